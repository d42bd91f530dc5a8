"""Clicks through Berth's web UI in headless Chromium (Debian's chromium + chromium-driver,
python3-selenium). Started by UIBrowserTests.swift, which runs the registry and pushes the
images; this script only uses the browser. Prints one line per check and exits 1 if any failed.

Environment: BERTH_UI (http://127.0.0.1:PORT/ui), BERTH_SCREENSHOTS (a directory), and the
digests BERTH_SHARED (tagged v1 and v2 in team/app), BERTH_ARM (the arm64 child of team/multi:1.0).
"""
import http.server
import os
import sys
import threading
import time

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

UI = os.environ["BERTH_UI"]
SHOTS = os.environ["BERTH_SCREENSHOTS"]
ARM = os.environ["BERTH_ARM"]
passed, failed = [], []


def check(name, condition, detail=""):
    (passed if condition else failed).append(name)
    print(("ok   " if condition else "FAIL ") + name + ("" if condition else f" -- {detail}"), flush=True)


def start_driver():
    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def severe(driver):
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def wait_for(driver, by, value, seconds=10):
    return WebDriverWait(driver, seconds).until(EC.presence_of_element_located((by, value)))


def shot(driver, name):
    driver.save_screenshot(os.path.join(SHOTS, f"{name}.png"))


def sign_in(driver, user, password):
    driver.get(f"{UI}/login")
    driver.find_element(By.ID, "username").send_keys(user)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "sign-in-submit").click()


def sign_out(driver):
    driver.find_element(By.ID, "sign-out").click()
    WebDriverWait(driver, 10).until(EC.presence_of_element_located((By.ID, "sign-in")))


def repositories(driver):
    driver.get(f"{UI}/")
    wait_for(driver, By.TAG_NAME, "main")
    return [a.text for a in driver.find_elements(By.CSS_SELECTOR, "a.repository")]


def tags(driver, repository):
    driver.get(f"{UI}/repositories/{repository}")
    wait_for(driver, By.ID, "repository-name")
    return [a.text for a in driver.find_elements(By.CSS_SELECTOR, "a.tag")]


class Attacker(http.server.BaseHTTPRequestHandler):
    """Pages of another site (localhost is not the same site as 127.0.0.1)."""

    def do_GET(self):
        if self.path == "/post.html":
            body = f"""<!doctype html><form id="f" method="post" action="{UI}/delete/team/app">
                <input name="csrf" value="guessed"><input name="tag" value="v2"><input name="mode" value="untag">
                <input name="confirm" value="yes"></form><script>document.getElementById("f").submit()</script>"""
        else:
            body = f'<!doctype html><iframe id="frame" src="{UI}/"></iframe>'
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def main():
    attacker = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Attacker)
    threading.Thread(target=attacker.serve_forever, daemon=True).start()
    attacker_base = f"http://localhost:{attacker.server_address[1]}"
    driver = start_driver()
    try:
        # Anonymous visitors see what anonymous rules allow, and a sign-in link.
        check("anonymous sees only public/*", repositories(driver) == ["public/base"], repositories(driver))
        shot(driver, "repositories-anonymous")

        # A wrong password: an error, no session cookie.
        sign_in(driver, "alice", "wrong")
        error = wait_for(driver, By.ID, "login-error")
        check("a wrong password is refused", "wrong" in error.text, error.text)
        check("a refused sign-in sets no session", not any(c["name"] == "__Host-berth_session" for c in driver.get_cookies()))
        shot(driver, "login-refused")

        sign_in(driver, "alice", "alice-pass")
        user = wait_for(driver, By.ID, "signed-in-user")
        check("alice signs in", user.text == "alice", user.text)
        cookie = next((c for c in driver.get_cookies() if c["name"] == "__Host-berth_session"), {})
        check("the session cookie is HttpOnly, Secure, SameSite=Strict",
              cookie.get("httpOnly") and cookie.get("secure") and cookie.get("sameSite") == "Strict", cookie)
        check("document.cookie cannot read it", "berth_session" not in driver.execute_script("return document.cookie"))
        check("alice sees team/*", repositories(driver) == ["team/app", "team/multi", "team/secret"], repositories(driver))
        shot(driver, "repositories")

        # Sorting and filtering are links and a GET form: no script needed.
        driver.find_element(By.LINK_TEXT, "size").click()
        WebDriverWait(driver, 10).until(EC.url_contains("sort=size"))
        check("sorting by size keeps every repository", sorted(a.text for a in driver.find_elements(By.CSS_SELECTOR, "a.repository")) == ["team/app", "team/multi", "team/secret"])
        box = driver.find_element(By.ID, "nav-q")
        box.send_keys("mul")
        box.submit()
        WebDriverWait(driver, 10).until(EC.url_contains("q=mul"))
        check("search finds the repository", [a.text for a in driver.find_elements(By.CSS_SELECTOR, "a.repository")] == ["team/multi"])

        check("tags newest first", tags(driver, "team/app") == ["v2", "v1", "hostile"], tags(driver, "team/app"))
        shot(driver, "repository")

        # The hostile image: its labels, annotations, env and history show as text; nothing runs.
        severe(driver)  # what earlier pages logged (the refused sign-in's 401) is not this page's
        driver.get(f"{UI}/image/team/app?ref=hostile")
        wait_for(driver, By.ID, "labels")
        check("no script from the image ran", driver.execute_script("return window.__x") is None)
        labels = driver.find_element(By.ID, "labels").text
        check("the hostile label shows literally", "<img src=x onerror=window.__x=1>" in labels, labels)
        summary = driver.find_element(By.ID, "summary")
        check("the title shows literally", "<script>window.__x=1</script>" in summary.text, summary.text)
        check("a javascript: source is not a link",
              all(not (a.get_attribute("href") or "").startswith("javascript:") for a in driver.find_elements(By.TAG_NAME, "a")))
        errors = severe(driver)
        check("no CSP violation or error on the image page", errors == [], errors)
        signature = driver.find_element(By.CSS_SELECTOR, "table[data-group=signature]").text
        check("a signature by another key says the key is unknown", "signature present, key unknown" in signature, signature)
        shot(driver, "image-hostile")

        # Platforms: the switcher changes the shown manifest and its layers.
        driver.get(f"{UI}/image/team/multi?ref=1.0")
        first = wait_for(driver, By.ID, "platform-digest").text
        driver.find_element(By.LINK_TEXT, "linux/arm64").click()
        WebDriverWait(driver, 10).until(EC.text_to_be_present_in_element((By.ID, "platform-digest"), ARM))
        check("the platform switch shows the arm64 manifest", driver.find_element(By.ID, "platform-digest").text == ARM != first)
        shot(driver, "image-platforms")

        # Referrers: the signature and the SBOM are listed; the SBOM opens as a package table.
        driver.get(f"{UI}/image/team/app?ref=v1")
        wait_for(driver, By.ID, "image-digest")
        groups = [table.get_attribute("data-group") for table in driver.find_elements(By.CSS_SELECTOR, "table.referrers")]
        check("a signature and an SBOM are attached to v1", groups == ["signature", "sbom"], groups)
        signature = driver.find_element(By.CSS_SELECTOR, "table[data-group=signature]").text
        check("a signature by the trusted key says so", "signed by release-key" in signature, signature)
        driver.find_element(By.LINK_TEXT, "Packages").click()
        table = wait_for(driver, By.ID, "packages")
        check("the SBOM shows its packages", "openssl 3.0.15 Apache-2.0" in table.text, table.text)
        shot(driver, "sbom")

        # A cross-site POST carries no SameSite=Strict cookie and is refused; the tag stays.
        driver.get(f"{attacker_base}/post.html")
        WebDriverWait(driver, 10).until(EC.url_contains("/delete/team/app"))
        message = wait_for(driver, By.ID, "message").text
        check("a cross-site POST is refused", "another site" in message, message)
        check("the tag survived the forged POST", "v2" in tags(driver, "team/app"))

        # Framing is refused (frame-ancestors 'none').
        driver.get(f"{attacker_base}/frame.html")
        time.sleep(1)
        logs = " ".join(severe(driver)) + " ".join(entry["message"] for entry in driver.get_log("browser"))
        driver.switch_to.frame(driver.find_element(By.ID, "frame"))
        framed = driver.find_elements(By.CSS_SELECTOR, "a.brand")
        driver.switch_to.default_content()
        check("the UI does not render in another site's frame", not framed, logs)

        # Bulk delete: select all with the script, remove the tags, confirm, and they are gone.
        tags(driver, "team/secret")
        driver.find_element(By.ID, "select-all").click()
        driver.find_element(By.ID, "untag-selected").click()
        consequences = wait_for(driver, By.ID, "consequences").text
        check("the confirmation says what goes", "Tag a is removed" in consequences and "Tag b is removed" in consequences, consequences)
        shot(driver, "confirm-delete")
        driver.find_element(By.ID, "confirm").click()
        done = wait_for(driver, By.ID, "done").text
        check("the tags were removed", "Removed tag a." in done and "Removed tag b." in done, done)
        check("team/secret has no tags left", tags(driver, "team/secret") == [])

        sign_out(driver)
        sign_in(driver, "bob", "bob-pass")
        wait_for(driver, By.ID, "signed-in-user")
        check("bob sees only team/app", repositories(driver) == ["team/app"], repositories(driver))
        tags(driver, "team/app")
        check("bob has no delete controls", not driver.find_elements(By.ID, "delete-selected") and not driver.find_elements(By.NAME, "tag"))
        driver.get(f"{UI}/repositories/team/secret")
        check("a repository bob may not pull is not found", "There is no repository team/secret" in wait_for(driver, By.ID, "message").text)

        # Dark mode follows the system; a 360 px wide screen needs no sideways scrolling.
        driver.get(f"{UI}/repositories/team/app")
        light = driver.execute_script("return getComputedStyle(document.body).backgroundColor")
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
        dark = driver.execute_script("return getComputedStyle(document.body).backgroundColor")
        check("dark mode changes the colours", light != dark, f"{light} / {dark}")
        shot(driver, "repository-dark")
        driver.set_window_size(360, 800)
        driver.get(f"{UI}/image/team/app?ref=v1")
        wait_for(driver, By.ID, "image-digest")
        width = driver.execute_script("return document.documentElement.scrollWidth")
        check("pages fit 360 px", width <= 360 + 20, width)
        shot(driver, "image-narrow")

        # Keyboard: Tab reaches the links in order, starting at the brand link.
        driver.set_window_size(1280, 900)
        driver.get(f"{UI}/")
        wait_for(driver, By.TAG_NAME, "main")
        driver.find_element(By.TAG_NAME, "body").send_keys("\t")
        check("Tab starts at the brand link", driver.switch_to.active_element.get_attribute("class") == "brand")
    except TimeoutException as error:
        failed.append("timeout")
        print(f"FAIL timed out waiting at {driver.current_url}: {error}", flush=True)
        shot(driver, "timeout")
    finally:
        driver.quit()
        attacker.shutdown()
    print(f"{len(passed)} passed, {len(failed)} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
