import Crypto
import Foundation

/// The stylesheet and the one script, embedded (a lone copied binary has everything) and served
/// under names carrying their hash, so browsers may keep them for a year.
struct Asset: Sendable {
    let name: String
    let contentType: String
    let bytes: [UInt8]
    let etag: String

    init(stem: String, extension ext: String, contentType: String, text: String) {
        bytes = Array(text.utf8)
        let hash = SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
        name = "\(stem).\(hash.prefix(8)).\(ext)"
        etag = "\"\(hash)\""
        self.contentType = contentType
    }

    static let stylesheet = Asset(stem: "berth", extension: "css", contentType: "text/css; charset=utf-8", text: css)
    static let script = Asset(stem: "berth", extension: "js", contentType: "text/javascript; charset=utf-8", text: js)
    static let all = [stylesheet, script]

    private static let css = #"""
        :root { --bg: #fff; --fg: #1b1f24; --muted: #57606a; --line: #d0d7de; --accent: #0b62c4; --warn: #9a6700; --bad: #b3261e; --ok: #1a7f37; --panel: #f6f8fa; }
        @media (prefers-color-scheme: dark) {
          :root { --bg: #0d1117; --fg: #e6edf3; --muted: #9198a1; --line: #30363d; --accent: #5aa9ff; --warn: #d29922; --bad: #f47067; --ok: #57ab5a; --panel: #161b22; }
        }
        * { box-sizing: border-box; }
        body { margin: 0; background: var(--bg); color: var(--fg); font: 15px/1.45 system-ui, sans-serif; }
        header { border-bottom: 1px solid var(--line); background: var(--panel); }
        nav { display: flex; flex-wrap: wrap; gap: .75rem; align-items: center; padding: .5rem 1rem; max-width: 72rem; margin: auto; }
        nav .brand { font-weight: 700; margin-right: auto; }
        main { padding: 1rem; max-width: 72rem; margin: auto; }
        a { color: var(--accent); }
        a:focus, button:focus, input:focus, select:focus { outline: 2px solid var(--accent); outline-offset: 2px; }
        h1 { font-size: 1.4rem; word-break: break-all; }
        h2 { font-size: 1.1rem; margin-top: 1.5rem; }
        table { border-collapse: collapse; width: 100%; }
        th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
        td { word-break: break-word; }
        .table-wrap { overflow-x: auto; }
        code, pre { font: 13px/1.4 ui-monospace, monospace; }
        pre { background: var(--panel); border: 1px solid var(--line); padding: .75rem; overflow-x: auto; white-space: pre-wrap; word-break: break-all; }
        .muted { color: var(--muted); }
        .badge { display: inline-block; font-size: 12px; padding: 0 .4rem; border: 1px solid var(--line); border-radius: 1rem; margin-right: .25rem; }
        .badge.ok { color: var(--ok); border-color: var(--ok); }
        .badge.warn { color: var(--warn); border-color: var(--warn); }
        .badge.bad { color: var(--bad); border-color: var(--bad); }
        .banner { background: var(--panel); border: 1px solid var(--warn); padding: .5rem .75rem; }
        .error { border-color: var(--bad); color: var(--bad); }
        .actions { display: flex; flex-wrap: wrap; gap: .5rem; margin: .75rem 0; }
        .sorts a[aria-current] { font-weight: 700; text-decoration: none; color: var(--fg); }
        .platforms a[aria-current] { font-weight: 700; }
        dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }
        dl.facts dt { color: var(--muted); }
        dl.facts dd { margin: 0; word-break: break-word; }
        form.inline { display: inline; }
        input, select, button { font: inherit; color: inherit; background: var(--bg); border: 1px solid var(--line); padding: .25rem .5rem; border-radius: .25rem; }
        button { cursor: pointer; }
        button.danger { border-color: var(--bad); color: var(--bad); }
        .sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
        .login { max-width: 22rem; }
        .login label { display: block; margin-top: .75rem; }
        .login input { width: 100%; }
        @media (max-width: 600px) { .wide { display: none; } nav { gap: .5rem; } }
        """#

    /// Progressive enhancement only: every page reads and every form works without it.
    private static let js = #"""
        "use strict";
        document.addEventListener("DOMContentLoaded", function () {
          var all = document.getElementById("select-all");
          if (all) {
            all.hidden = false;
            all.addEventListener("change", function () {
              document.querySelectorAll("input[name=tag]").forEach(function (box) { box.checked = all.checked; });
            });
          }
          document.querySelectorAll("button[data-copy]").forEach(function (button) {
            button.hidden = false;
            button.addEventListener("click", function () {
              var target = document.getElementById(button.getAttribute("data-copy"));
              if (target && navigator.clipboard) { navigator.clipboard.writeText(target.textContent); button.textContent = "Copied"; }
            });
          });
        });
        """#
}
