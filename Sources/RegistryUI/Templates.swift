import Mustache

/// The pages' HTML. `{{x}}` escapes `< > & " '`; the only unescaped value is `{{{body}}}`, a
/// page this library rendered itself. Attribute values are always quoted, and no link takes a
/// URL from an image unless `Formatting.safeLink` passed it. No inline script or style (the CSP
/// forbids both).
struct Templates: Sendable {
    private let library: MustacheLibrary

    init() {
        var library = MustacheLibrary()
        for (name, text) in Self.sources {
            // The templates are constants of this file: one that does not parse is a bug caught by every test.
            try! library.register(text, named: name)
        }
        self.library = library
    }

    func render(_ name: String, _ object: Any) -> String { library.render(Self.clean(object) ?? [:], withTemplate: name) ?? "" }

    /// Models are dictionaries built with optionals and empty strings in them; mustache would
    /// print `nil` and treat both as true in a section, so they are removed before rendering.
    static func clean(_ value: Any) -> Any? {
        if let optional = value as? any OptionalValue {
            guard let inner = optional.wrapped else { return nil }
            return clean(inner)
        }
        if let text = value as? String { return text.isEmpty ? nil : text }
        if let map = value as? [String: Any] { return map.compactMapValues(clean) }
        if let list = value as? [Any] { return list.compactMap(clean) }
        return value
    }

    private static let sources: [String: String] = [
        "layout": #"""
            <!doctype html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>{{title}} · Berth</title>
            <link rel="icon" href="data:,">
            <link rel="stylesheet" href="{{base}}/static/{{css}}">
            <script src="{{base}}/static/{{js}}" defer></script>
            </head>
            <body>
            <header><nav aria-label="Main">
            <a class="brand" href="{{base}}/">Berth registry</a>
            <form class="inline" role="search" method="get" action="{{base}}/search"><label class="sr" for="nav-q">Search repositories, tags, digests, titles</label><input id="nav-q" name="q" type="search" placeholder="Search" value="{{filter}}"></form>
            {{#admin}}<a href="{{base}}/storage">Storage</a> <a href="{{base}}/webhooks">Webhooks</a>{{/admin}}
            {{#userName}}<span>Signed in as <strong id="signed-in-user">{{userName}}</strong></span>
            <form class="inline" method="post" action="{{base}}/logout"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" id="sign-out">Sign out</button></form>{{/userName}}
            {{^userName}}{{#signInAvailable}}<a href="{{base}}/login" id="sign-in">Sign in</a>{{/signInAvailable}}{{/userName}}
            </nav></header>
            {{#readOnly}}<p class="banner" role="status" id="read-only">This registry is read-only: nothing can be deleted here.</p>{{/readOnly}}
            <main>
            {{{body}}}
            </main>
            </body>
            </html>
            """#,
        "message": #"""
            <h1>{{heading}}</h1>
            <p id="message">{{text}}</p>
            <p><a href="{{base}}/">All repositories</a></p>
            """#,
        "login": #"""
            <h1>Sign in</h1>
            {{#error}}<p class="banner error" role="alert" id="login-error">{{error}}</p>{{/error}}
            <form class="login" method="post" action="{{base}}/login">
            <input type="hidden" name="next" value="{{next}}">
            <label for="username">User name</label><input id="username" name="username" autocomplete="username" required value="{{username}}">
            <label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
            <div class="actions"><button type="submit" id="sign-in-submit">Sign in</button></div>
            </form>
            """#,
        "repositories": #"""
            <h1>Repositories</h1>
            {{#filter}}<p>Showing repositories whose name contains “{{filter}}”.</p>{{/filter}}
            <p class="sorts">Sort by: {{#sorts}}<a href="{{href}}"{{#current}} aria-current="true"{{/current}}>{{label}}</a> {{/sorts}}</p>
            {{^rows}}<p id="no-repositories">No repositories{{#filter}} match{{/filter}}.</p>{{/rows}}
            {{#hasRows}}<div class="table-wrap"><table id="repositories">
            <thead><tr><th scope="col">Repository</th><th scope="col">Tags</th><th scope="col" class="wide">Last push</th><th scope="col">Size (compressed)</th></tr></thead>
            <tbody>
            {{#rows}}<tr><td><a href="{{href}}" class="repository">{{name}}</a> {{#multi}}<span class="badge">multi-arch</span>{{/multi}}{{#signed}}<span class="badge ok">signed</span>{{/signed}}{{#sbom}}<span class="badge">SBOM</span>{{/sbom}}</td><td>{{tags}}</td><td class="wide">{{#pushedISO}}<time datetime="{{pushedISO}}" title="{{pushedISO}}">{{pushed}}</time>{{/pushedISO}}</td><td>{{size}}</td></tr>
            {{/rows}}
            </tbody></table></div>{{/hasRows}}
            <p class="muted">{{summary}} {{#previous}}<a href="{{previous}}" rel="prev">Previous page</a>{{/previous}} {{#next}}<a href="{{next}}" rel="next" id="next-page">Next page</a>{{/next}}</p>
            """#,
        "repository": #"""
            <h1 id="repository-name">{{name}}</h1>
            <p class="muted">{{tagCount}} tags{{#folded}} · {{folded}} signature, attestation and SBOM tags shown with their images{{/folded}}</p>
            {{#pulls}}<h2>Pull {{tag}}</h2>
            <div class="table-wrap"><table><tbody>{{#commands}}<tr><th scope="row">{{tool}}</th><td><code id="pull-{{id}}">{{command}}</code> <button type="button" data-copy="pull-{{id}}" hidden>Copy</button></td></tr>{{/commands}}</tbody></table></div>{{/pulls}}
            <h2>Tags</h2>
            <p class="sorts">Sort by: {{#sorts}}<a href="{{href}}"{{#current}} aria-current="true"{{/current}}>{{label}}</a> {{/sorts}}</p>
            <form method="post" action="{{deleteAction}}">
            {{#canDelete}}<input type="hidden" name="csrf" value="{{csrf}}">{{/canDelete}}
            <div class="table-wrap"><table id="tags">
            <thead><tr>{{#canDelete}}<th scope="col"><label class="sr" for="select-all">Select all</label><input type="checkbox" id="select-all" hidden></th>{{/canDelete}}<th scope="col">Tag</th><th scope="col">Digest</th><th scope="col">Platforms</th><th scope="col">Size (compressed)</th><th scope="col" class="wide">Pushed</th></tr></thead>
            <tbody>
            {{#tags}}<tr>{{#canDelete}}<td><input type="checkbox" name="tag" value="{{tag}}" id="select-{{index}}" aria-label="Select {{tag}}"></td>{{/canDelete}}<td><a href="{{href}}" class="tag">{{tag}}</a> {{#signed}}<span class="badge ok">signed</span>{{/signed}}{{#sbom}}<span class="badge">SBOM</span>{{/sbom}}{{#attested}}<span class="badge">attested</span>{{/attested}}</td><td><code title="{{digest}}">{{digestShort}}</code></td><td>{{platforms}}</td><td>{{size}}</td><td class="wide"><time datetime="{{pushedISO}}" title="{{pushedISO}}">{{pushed}}</time></td></tr>
            {{/tags}}
            </tbody></table></div>
            <p class="muted">{{pageSummary}} {{#previous}}<a href="{{previous}}" rel="prev">Previous page</a>{{/previous}} {{#next}}<a href="{{next}}" rel="next" id="next-tags">Next page</a>{{/next}}</p>
            {{#canDelete}}<div class="actions"><button type="submit" name="mode" value="untag" id="untag-selected">Remove selected tags…</button> <button type="submit" class="danger" name="mode" value="manifests" id="delete-selected">Delete selected images…</button></div>{{/canDelete}}
            </form>
            """#,
        "confirm": #"""
            <h1>{{heading}}</h1>
            <p>{{explanation}}</p>
            <ul id="consequences">{{#items}}<li>{{.}}</li>{{/items}}</ul>
            <form method="post" action="{{action}}">
            <input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="mode" value="{{mode}}"><input type="hidden" name="confirm" value="yes">
            {{#tags}}<input type="hidden" name="tag" value="{{.}}">{{/tags}}
            <div class="actions"><button type="submit" class="danger" id="confirm">{{button}}</button> <a href="{{back}}">Cancel</a></div>
            </form>
            """#,
        "done": #"""
            <h1>{{heading}}</h1>
            <ul id="done">{{#items}}<li>{{.}}</li>{{/items}}</ul>
            {{#failures}}<p class="banner error" role="alert">{{.}}</p>{{/failures}}
            <p><a href="{{back}}">Back to {{name}}</a></p>
            """#,
        "image": #"""
            <p><a href="{{repositoryHref}}">{{repository}}</a></p>
            <h1>{{repository}}:{{reference}}</h1>
            <dl class="facts">
            <dt>Digest</dt><dd><code id="image-digest">{{digest}}</code></dd>
            <dt>Media type</dt><dd>{{mediaType}}</dd>
            {{#artifactType}}<dt>Artifact type</dt><dd>{{artifactType}}</dd>{{/artifactType}}
            {{#size}}<dt>Size (compressed)</dt><dd>{{size}}</dd>{{/size}}
            </dl>
            {{#hasPlatforms}}<h2>Platforms</h2><ul class="platforms" id="platforms">{{#platforms}}<li><a href="{{href}}"{{#current}} aria-current="true"{{/current}}>{{label}}</a> <span class="muted">{{size}}{{#attestations}} · {{attestations}} attestation manifest(s){{/attestations}}</span></li>{{/platforms}}</ul>
            {{#platformDigest}}<p>Showing <code id="platform-digest">{{platformDigest}}</code></p>{{/platformDigest}}{{/hasPlatforms}}
            {{#hasSummary}}<h2>About</h2><dl class="facts" id="summary">{{#summary}}<dt>{{key}}</dt><dd>{{#link}}<a href="{{link}}" rel="noopener noreferrer">{{value}}</a>{{/link}}{{^link}}{{value}}{{/link}}</dd>{{/summary}}</dl>{{/hasSummary}}
            {{#hasConfig}}<h2>Configuration</h2><dl class="facts" id="config">{{#config}}<dt>{{key}}</dt><dd>{{#values}}<code>{{.}}</code><br>{{/values}}</dd>{{/config}}</dl>{{/hasConfig}}
            {{#hasLabels}}<h2>Labels</h2><dl class="facts" id="labels">{{#labels}}<dt>{{key}}</dt><dd>{{value}}</dd>{{/labels}}</dl>{{/hasLabels}}
            {{#hasLayers}}<h2>Layers and history</h2><div class="table-wrap"><table id="layers"><thead><tr><th scope="col">#</th><th scope="col">Step</th><th scope="col">Layer</th><th scope="col">Size</th></tr></thead><tbody>
            {{#layers}}<tr><td>{{number}}</td><td><code>{{step}}</code></td><td>{{#digest}}<code title="{{digest}}">{{digestShort}}</code>{{/digest}}{{^digest}}<span class="muted">no layer</span>{{/digest}}</td><td>{{size}}</td></tr>
            {{/layers}}</tbody></table></div>{{/hasLayers}}
            <h2>Signatures, SBOMs and attestations</h2>
            {{^hasReferrers}}<p id="no-referrers">None attached.</p>{{/hasReferrers}}
            {{#groups}}<h3>{{title}} ({{count}})</h3><div class="table-wrap"><table class="referrers" data-group="{{key}}"><thead><tr><th scope="col">Digest</th><th scope="col">Type</th><th scope="col">Via</th><th scope="col">Details</th></tr></thead><tbody>
            {{#items}}<tr><td><code title="{{digest}}">{{digestShort}}</code></td><td>{{type}}</td><td>{{via}}</td><td>{{#status}}<span class="badge {{statusClass}}">{{status}}</span> {{/status}}{{#details}}{{.}}<br>{{/details}}{{#sbomHref}}<a href="{{sbomHref}}">Packages</a> {{/sbomHref}}<a href="{{downloadHref}}">Download</a></td></tr>
            {{/items}}</tbody></table></div>{{/groups}}
            <h2>Raw</h2>
            <p><a href="{{manifestDownload}}">Download manifest</a>{{#configDownload}} · <a href="{{configDownload}}">Download config</a>{{/configDownload}}</p>
            <details><summary>Manifest</summary><pre id="raw-manifest">{{rawManifest}}</pre></details>
            {{#rawConfig}}<details><summary>Config</summary><pre id="raw-config">{{rawConfig}}</pre></details>{{/rawConfig}}
            """#,
        "sbom": #"""
            <p><a href="{{imageHref}}">{{repository}}@{{subjectShort}}</a></p>
            <h1>SBOM: {{format}}</h1>
            <p class="muted">{{count}} packages{{#truncated}}, the first {{shown}} shown{{/truncated}} · <a href="{{downloadHref}}">Download</a></p>
            <div class="table-wrap"><table id="packages"><thead><tr><th scope="col">Package</th><th scope="col">Version</th><th scope="col">License</th></tr></thead><tbody>
            {{#packages}}<tr><td>{{name}}</td><td>{{version}}</td><td>{{license}}</td></tr>
            {{/packages}}</tbody></table></div>
            """#,
        "search": #"""
            <h1>Search: {{term}}</h1>
            {{#nothing}}<p id="no-results">Nothing matches.</p>{{/nothing}}
            {{#hasRepositories}}<h2>Repositories</h2><ul id="found-repositories">{{/hasRepositories}}{{#repositories}}<li><a href="{{href}}" class="repository">{{name}}</a></li>{{/repositories}}{{#hasRepositories}}</ul>{{/hasRepositories}}
            {{#hasTags}}<h2>Tags</h2><ul id="found-tags">{{/hasTags}}{{#tags}}<li><a href="{{href}}">{{repository}}:{{tag}}</a> <code>{{digestShort}}</code></li>{{/tags}}{{#hasTags}}</ul>{{/hasTags}}
            {{#hasDigests}}<h2>Digests</h2><ul id="found-digests">{{/hasDigests}}{{#digests}}<li><a href="{{href}}">{{repository}}@{{digest}}</a></li>{{/digests}}{{#hasDigests}}</ul>{{/hasDigests}}
            {{#hasTitles}}<h2>Titles</h2><ul id="found-titles">{{/hasTitles}}{{#titles}}<li><a href="{{href}}">{{title}}</a> <span class="muted">{{repository}} <code>{{digestShort}}</code></span></li>{{/titles}}{{#hasTitles}}</ul>{{/hasTitles}}
            """#,
        "webhooks": #"""
            <h1>Webhooks</h1>
            {{#none}}<p>No endpoints are configured (notifications.endpoints).</p>{{/none}}
            {{^none}}<div class="table-wrap"><table id="webhooks"><thead><tr><th scope="col">Endpoint</th><th scope="col">URL</th><th scope="col">Queued</th><th scope="col">Failing</th><th scope="col">Most attempts</th><th scope="col">Next attempt</th></tr></thead><tbody>
            {{#endpoints}}<tr><td>{{name}} {{#healthy}}<span class="badge ok">delivering</span>{{/healthy}}{{^healthy}}<span class="badge bad">failing</span>{{/healthy}}</td><td><code>{{url}}</code></td><td>{{queued}}</td><td>{{failing}}</td><td>{{attempts}}</td><td>{{next}}</td></tr>
            {{/endpoints}}</tbody></table></div>{{/none}}
            """#,
        "storage": #"""
            <h1>Storage</h1>
            <dl class="facts" id="storage-facts"><dt>Blobs</dt><dd>{{blobs}}</dd><dt>Bytes stored</dt><dd>{{bytes}}</dd><dt>Uploads in progress</dt><dd>{{uploads}}</dd></dl>
            <h2>Usage by repository</h2>
            <div class="table-wrap"><table id="usage"><thead><tr><th scope="col">Repository</th><th scope="col">Bytes it uses</th><th scope="col">Tags</th></tr></thead><tbody>
            {{#repositories}}<tr><td>{{name}}</td><td>{{size}}</td><td>{{tags}}</td></tr>
            {{/repositories}}</tbody></table></div>
            <h2>Garbage collection</h2>
            <p id="gc-last">{{lastCollection}}</p>
            {{^dryRun}}<p><a href="{{base}}/storage?dryrun=1" id="gc-dry-run">Show what a collection would delete now</a> (changes nothing).</p>{{/dryRun}}
            {{#dryRun}}<p id="gc-summary">{{summary}}</p><ul id="gc-blobs">{{#blobs}}<li><code>{{digest}}</code> {{size}}</li>{{/blobs}}</ul>{{/dryRun}}
            """#,
    ]
}

protocol OptionalValue {
    var wrapped: Any? { get }
}

extension Optional: OptionalValue {
    var wrapped: Any? { map { $0 as Any } }
}
