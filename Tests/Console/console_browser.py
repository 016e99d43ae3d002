#!/usr/bin/python3
"""Drives Debian's chromium (headless, through chromium-driver and python3-selenium) against a
running pxe-catalog (nginx + worker, over TLS as admins use it) and checks the console the way an admin uses it. Started by
ConsoleBrowserTests with the server's address, the admin token, the catalog directory, a spare
container to add, and where to save screenshots. Real input: clicks, typing, pointer drags and
keys go through the browser's input pipeline; the API is checked over HTTP beside it.

Exit status 0 when every check passed; the failures are printed otherwise."""
import argparse
import json
import pathlib
import shutil
import ssl
import sys
import time
import unittest
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

HOSTILE_NAME = "<img src=x onerror=alert(1)>"
HOSTILE_DESCRIPTION = "</script><script>alert(2)</script>"
WAIT_SECONDS = 60

ARGS = None


def api(method, path, token=None, body=None):
    """The API over plain HTTP, beside the browser: (status, parsed JSON or text)."""
    request = urllib.request.Request(ARGS.base + path, method=method,
                                     data=None if body is None else json.dumps(body).encode())
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        context = ssl.create_default_context(cafile=ARGS.cafile) if ARGS.cafile else None
        with urllib.request.urlopen(request, timeout=30, context=context) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode("utf-8", "replace")


def menu_names():
    _, listing = api("GET", "/pxe")
    return [entry["name"] for entry in listing["pxe_containers"]]


class ConsoleTests(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                         "--window-size=1400,1000", "--no-first-run", "--disable-extensions",
                         "--disable-background-networking", "--disable-component-update"]:
            options.add_argument(argument)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        # The test's certificate is self-signed; the browser has no way to trust it otherwise.
        options.accept_insecure_certs = bool(ARGS.cafile)
        cls.driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        cls.driver.set_page_load_timeout(WAIT_SECONDS)
        cls.shots = pathlib.Path(ARGS.screenshots)
        cls.shots.mkdir(parents=True, exist_ok=True)
        cls.console_errors = []

    @classmethod
    def tearDownClass(cls):
        cls.driver.quit()

    # Helpers

    def wait(self, condition, message):
        # The page re-renders rows after each change: an element found a moment ago may be gone.
        return WebDriverWait(self.driver, WAIT_SECONDS, poll_frequency=0.1,
                             ignored_exceptions=(StaleElementReferenceException, NoSuchElementException, AttributeError)
                             ).until(lambda _: condition(), message)

    def shot(self, name):
        self.driver.save_screenshot(str(self.shots / f"{name}.png"))

    def no_dialog(self):
        try:
            alert = self.driver.switch_to.alert
            text = alert.text
            alert.dismiss()
            self.fail(f"a dialog opened: {text!r}")
        except NoAlertPresentException:
            pass

    def collect_console(self):
        """Browser console entries worth failing on: script errors, CSP violations. A failed
        request the test provoked (the wrong token's 401/403, the refused edit's 400) is the API answering, not an error."""
        for entry in self.driver.get_log("browser"):
            message = entry.get("message", "")
            if entry.get("level") != "SEVERE":
                continue
            if "Failed to load resource" in message and any(f"status of {code}" in message for code in (400, 401, 403)):
                continue
            self.console_errors.append(message)

    def open(self, fragment=""):
        self.driver.get(ARGS.base + "/console/" + fragment)
        self.wait(lambda: self.driver.execute_script("return document.readyState") == "complete", "the page loaded")

    def rows(self):
        return self.driver.find_elements(By.CSS_SELECTOR, "#catalog-rows tr")

    def row_of(self, file_name):
        for row in self.rows():
            if row.find_element(By.CSS_SELECTOR, ".file").text == file_name:
                return row
        return None

    def messages(self):
        return [node.text for node in self.driver.find_elements(By.CSS_SELECTOR, "#messages .message .text")]

    def section(self, name):
        self.driver.find_element(By.CSS_SELECTOR, f'nav a[data-section="{name}"]').click()
        self.wait(lambda: self.driver.find_element(By.ID, f"section-{name}").is_displayed(), f"the {name} section shows")

    def sign_in(self, token):
        field = self.driver.find_element(By.ID, "token")
        field.clear()
        field.send_keys(token)
        field.send_keys(Keys.ENTER)

    # The walk through the console, in order: each step starts where the previous ended.

    def test_1_read_only_view_shows_the_catalog_with_hostile_text_as_text(self):
        self.open()
        _, listing = api("GET", "/containers")
        expected = len(listing["containers"])
        self.wait(lambda: len(self.rows()) == expected, f"{expected} catalog rows")
        hostile = self.row_of("hostile.rts.png")
        self.assertIsNotNone(hostile)
        self.assertEqual(hostile.find_element(By.CSS_SELECTOR, ".name").text, HOSTILE_NAME)
        self.assertEqual(hostile.find_element(By.CSS_SELECTOR, ".description").text, HOSTILE_DESCRIPTION)
        # Nothing of the text became markup: the only images are thumbnails.
        for image in self.driver.find_elements(By.CSS_SELECTOR, "img"):
            self.assertIn("/thumbnail.png", image.get_attribute("src"))
        self.assertEqual(self.driver.execute_script("return document.scripts.length"), 1)
        # Thumbnails load through nginx (the picture's natural size is the thumbnail's).
        self.wait(lambda: self.driver.execute_script(
            "return [...document.querySelectorAll('img.thumbnail')].some(i => i.complete && i.naturalWidth > 0)"), "a thumbnail shows")
        # Read-only: the switches cannot be used, no refresh button.
        self.assertTrue(all(not box.is_enabled() for box in self.driver.find_elements(By.CSS_SELECTOR, "#catalog-rows input[type=checkbox]")))
        self.assertFalse(self.driver.find_element(By.ID, "refresh").is_displayed())
        self.no_dialog()
        self.assertFalse(self.driver.find_element(By.ID, "signed-in").is_displayed(), "not signed in")
        self.shot("1-read-only")

    def test_2_a_wrong_token_shows_the_apis_sentence(self):
        status, body = api("GET", "/audit?limit=1", token="not-the-token")
        self.assertIn(status, (401, 403))
        self.sign_in("not-the-token")
        self.wait(lambda: body["error"] in self.messages(), f"the message {body['error']!r}")
        self.assertTrue(self.driver.find_element(By.ID, "sign-in").is_displayed(), "still signed out")
        self.assertIsNone(self.driver.execute_script("return sessionStorage.getItem('pxe-catalog.admin-token')"))
        self.shot("2-wrong-token")

    def test_3_sign_in_and_disable_an_entry(self):
        self.sign_in(ARGS.token)
        self.wait(lambda: self.driver.find_element(By.ID, "signed-in").is_displayed(), "signed in")
        self.assertFalse(self.driver.find_element(By.ID, "sign-in").is_displayed(), "the token field is gone once signed in")
        self.assertNotIn(ARGS.token, self.driver.current_url)
        self.assertIn("Alpha", menu_names())
        self.wait(lambda: self.row_of("alpha.rts.png").find_element(By.CSS_SELECTOR, "input[type=checkbox]").is_enabled(), "switches on")
        switch = self.row_of("alpha.rts.png").find_element(By.CSS_SELECTOR, "input[type=checkbox]")
        self.assertTrue(switch.is_selected())
        switch.click()
        self.wait(lambda: "Alpha" not in menu_names(), "Alpha leaves /pxe")
        self.wait(lambda: any("out of the boot menu" in text for text in
                              [n.text for n in self.driver.find_elements(By.CSS_SELECTOR, "#notices .message")]), "the notice")
        self.shot("3-disabled")

    def test_4_drag_an_entry_to_the_top(self):
        self.section("menu")
        self.wait(lambda: len(self.driver.find_elements(By.CSS_SELECTOR, "#menu-rows > li")) == len(menu_names()), "menu rows")
        before = menu_names()
        last, first = before[-1], before[0]
        rows = self.driver.find_elements(By.CSS_SELECTOR, "#menu-rows > li")
        source, target = rows[-1].find_element(By.CSS_SELECTOR, ".grip"), rows[0]
        ActionChains(self.driver).click_and_hold(source).move_by_offset(0, -10).move_to_element(target) \
            .move_by_offset(0, -2).release().perform()
        self.wait(lambda: menu_names()[0] == last, f"{last} first in /pxe")
        _, script = api("GET", "/pxe/menu.ipxe")
        self.assertLess(script.index(last), script.index(first), "menu.ipxe lists it first")
        self.wait(lambda: self.driver.find_elements(By.CSS_SELECTOR, "#menu-rows > li .name")[0].text == last, "the page shows it first")
        self.shot("4-dragged")

    def test_5_keyboard_moves_an_entry(self):
        before = menu_names()
        row = self.driver.find_elements(By.CSS_SELECTOR, "#menu-rows > li")[0]
        moved = row.get_attribute("data-id")
        row.click()
        ActionChains(self.driver).key_down(Keys.ALT).send_keys(Keys.ARROW_DOWN).key_up(Keys.ALT).perform()
        self.wait(lambda: menu_names() == [before[1], before[0]] + before[2:], "Alt+Down swapped the first two")
        # The moved row keeps the focus, so a second press moves it on.
        self.wait(lambda: self.driver.switch_to.active_element.get_attribute("data-id") == moved, "focus kept")
        self.shot("5-keyboard")

    def test_6_edit_a_name(self):
        rows = self.driver.find_elements(By.CSS_SELECTOR, "#menu-rows > li")
        entry_id = rows[0].get_attribute("data-id")
        rows[0].find_element(By.XPATH, ".//button[text()='Edit']").click()
        field = self.driver.find_element(By.CSS_SELECTOR, "#menu-rows form input[name=name]")
        field.send_keys("Renamed in the console")
        field.send_keys(Keys.ENTER)
        self.wait(lambda: "Renamed in the console" in menu_names(), "the new name in /pxe")
        _, script = api("GET", "/pxe/menu.ipxe")
        self.assertIn("Renamed in the console", script)
        # A refused edit shows the API's sentence: a command line iPXE could not pass on.
        row = self.driver.find_element(By.CSS_SELECTOR, f'#menu-rows > li[data-id="{entry_id}"]')
        row.find_element(By.XPATH, ".//button[text()='Edit']").click()
        cmdline = self.driver.find_element(By.CSS_SELECTOR, "#menu-rows form input[name=cmdline]")
        cmdline.send_keys("console=ttyS0 ${net0/mac}")
        status, body = api("POST", f"/pxe/{entry_id}/menu", token=ARGS.token, body={"cmdline": "console=ttyS0 ${net0/mac}"})
        self.assertEqual(status, 400)
        cmdline.send_keys(Keys.ENTER)
        self.wait(lambda: body["error"] in self.messages(), f"the message {body['error']!r}")
        self.shot("6-edited")

    def test_7_refresh_after_adding_a_file(self):
        self.section("catalog")
        count = len(api("GET", "/containers")[1]["containers"])
        shutil.copy(ARGS.spare, pathlib.Path(ARGS.catalog) / "added.rts.png")
        self.driver.find_element(By.ID, "refresh").click()
        self.wait(lambda: any("1 added" in n.text for n in self.driver.find_elements(By.CSS_SELECTOR, "#notices .message")),
                  "the refresh's result")
        self.wait(lambda: len(self.rows()) == count + 1 and self.row_of("added.rts.png") is not None, "the new row")
        self.shot("7-refreshed")

    def test_8_search_and_filter(self):
        search = self.driver.find_element(By.ID, "search")
        search.send_keys("bravo")
        self.wait(lambda: [r.find_element(By.CSS_SELECTOR, ".file").text for r in self.rows()] == ["bravo.rts.png"], "one match")
        search.clear()
        search.send_keys(Keys.SPACE, Keys.BACKSPACE)
        self.driver.find_element(By.CSS_SELECTOR, "#filter option[value=disabled]").click()
        self.wait(lambda: [r.find_element(By.CSS_SELECTOR, ".file").text for r in self.rows()] == ["alpha.rts.png"], "the disabled one")
        self.driver.find_element(By.CSS_SELECTOR, "#filter option[value=all]").click()

    def test_9_preview_hosts_and_audit(self):
        self.section("preview")
        first = menu_names()[0]
        self.wait(lambda: any(first in line.text for line in self.driver.find_elements(By.CSS_SELECTOR, "#preview-screen .screen-item")),
                  "the first entry in the preview")
        self.assertIn("Boot from local disk", self.driver.find_element(By.ID, "preview-screen").text)
        self.shot("8-preview")
        self.section("hosts")
        api("GET", "/pxe/menu.ipxe?mac=52-54-00-aa-bb-cc&platform=pcbios")
        self.wait(lambda: any("52:54:00:aa:bb:cc" in row.text for row in self.driver.find_elements(By.CSS_SELECTOR, "#boot-rows tr")),
                  "the boot shows up live")
        self.shot("9-boots")
        self.wait(lambda: any("debian.preseed (preseed)" in row.text and "lab-installs" in row.text
                              for row in self.driver.find_elements(By.CSS_SELECTOR, "#answer-rows tr")),
                  "the answer-file template and the rule that uses it")
        self.section("audit")
        _, audit = api("GET", "/audit?limit=200", token=ARGS.token)
        toggles = [record for record in audit["records"] if record["old"] == "true" and record["new"] == "false"]
        self.assertEqual(len(toggles), 1, "the API has the one toggle")
        self.wait(lambda: any(toggles[0]["entry_id"] in row.text and toggles[0]["field"] in row.text
                              for row in self.driver.find_elements(By.CSS_SELECTOR, "#audit-rows tr")),
                  "the toggle in the audit log")
        self.shot("10-audit")
        self.section("catalog")
        self.wait(lambda: len(self.rows()) > 0, "rows")
        for close in self.driver.find_elements(By.CSS_SELECTOR, "#messages .close"):
            close.click()
        self.assertEqual(self.messages(), [], "messages can be dismissed")
        self.shot("console")
        self.no_dialog()
        self.collect_console()
        self.assertEqual(self.console_errors, [], "the browser console had errors:\n" + "\n".join(self.console_errors))


class LargeCatalogTests(ConsoleTests):
    """A catalog of 10,000 entries: one page of rows in the page at a time, paging and search
    over all of them (the time it took is printed, not asserted)."""

    def resources(self, fragment):
        """What the page fetched whose URL holds `fragment`: [(status, bytes on the wire)]."""
        return self.driver.execute_script(
            "return performance.getEntriesByType('resource').filter(e => e.name.includes(arguments[0]))"
            ".map(e => [e.responseStatus || 0, e.transferSize]);", fragment)

    def test_1_read_only_view_shows_the_catalog_with_hostile_text_as_text(self):
        started = time.monotonic()
        self.open()
        self.driver.execute_script("performance.setResourceTimingBufferSize(100000);")
        self.wait(lambda: self.driver.find_element(By.ID, "catalog-count").text == f"{ARGS.expect} of {ARGS.expect} containers",
                  f"{ARGS.expect} containers counted")
        self.wait(lambda: len(self.rows()) == 100, "one page of 100 rows")
        print(f"{ARGS.expect} entries listed and the first page drawn in {time.monotonic() - started:.2f} s")
        loaded = self.resources("/containers?limit=1000&")
        print(f"the catalog was fetched in {len(loaded)} requests, {sum(size for _, size in loaded):,} bytes")
        # An idle console polls whether the catalog changed (every 15 s): a 304 of a few hundred
        # bytes, not the whole listing again.
        self.driver.execute_script("performance.clearResourceTimings();")
        self.wait(lambda: self.resources("/containers?limit=1") and all(status for status, _ in self.resources("/containers?limit=1")),
                  "a poll of the catalog")
        polls = self.resources("/containers?limit=1")
        print(f"an idle poll of the catalog: status {polls[0][0]}, {polls[0][1]} bytes")
        self.assertEqual(polls[0][0], 304, "nothing changed: the poll is answered 304")
        self.assertLess(polls[0][1], 1024, "an idle poll transfers under 1 KB")
        self.assertEqual(self.resources("/containers?limit=1000&"), [], "nothing else of the catalog was fetched again")
        pages = (ARGS.expect + 99) // 100
        self.assertEqual(self.driver.find_element(By.ID, "page-label").text, f"Page 1 of {pages}")
        for _ in range(3):
            self.driver.find_element(By.ID, "next-page").click()
        self.assertEqual(self.driver.find_element(By.ID, "page-label").text, f"Page 4 of {pages}")
        self.assertEqual(len(self.rows()), 100)
        search = self.driver.find_element(By.ID, "search")
        search.send_keys("f9999.rts.png")
        self.wait(lambda: [r.find_element(By.CSS_SELECTOR, ".file").text for r in self.rows()] == ["f9999.rts.png"], "the one match")
        self.assertEqual(self.driver.find_element(By.ID, "page-label").text, "Page 1 of 1")
        self.shot("large-catalog")
        self.no_dialog()
        self.collect_console()
        self.assertEqual(self.console_errors, [], "the browser console had errors:\n" + "\n".join(self.console_errors))

    # The walk-through's other steps are the small catalog's.
    test_2_a_wrong_token_shows_the_apis_sentence = None
    test_3_sign_in_and_disable_an_entry = None
    test_4_drag_an_entry_to_the_top = None
    test_5_keyboard_moves_an_entry = None
    test_6_edit_a_name = None
    test_7_refresh_after_adding_a_file = None
    test_8_search_and_filter = None
    test_9_preview_hosts_and_audit = None


class DemoCatalogShot(ConsoleTests):
    """The demo catalog (`pxe-catalog demo-catalog`, as `make run` serves it) signed in, once
    every entry is prepared: the picture the README shows (docs/console.png is a copy)."""

    def test_1_read_only_view_shows_the_catalog_with_hostile_text_as_text(self):
        def settled():
            _, listing = api("GET", "/containers")
            return listing["containers"] if all(c["boot"]["state"] not in ("pending", "preparing") for c in listing["containers"]) else None
        deadline = time.monotonic() + WAIT_SECONDS
        while not settled() and time.monotonic() < deadline:
            time.sleep(0.2)
        containers = settled()
        self.assertIsNotNone(containers, "the demo's entries were prepared")
        self.open()
        self.sign_in(ARGS.token)
        self.wait(lambda: not self.driver.find_element(By.ID, "signed-in").get_attribute("hidden"), "signed in")
        self.wait(lambda: len(self.rows()) == len(containers), f"{len(containers)} catalog rows")
        with_pictures = sum(1 for c in containers if c["thumbnail"])
        self.wait(lambda: self.driver.execute_script(
            "return [...document.querySelectorAll('img.thumbnail')].filter(i => i.complete && i.naturalWidth > 0).length") == with_pictures,
            "every thumbnail shows")
        names = [row.find_element(By.CSS_SELECTOR, ".name").text for row in self.rows()]
        self.assertIn("Demo Linux (Debian kernel, busybox)", names)
        # Debian's kernel is signed: the row says by whom (what Secure Boot machines will check).
        demo = next(row for row in self.rows() if row.find_element(By.CSS_SELECTOR, ".name").text == "Demo Linux (Debian kernel, busybox)")
        note = demo.find_element(By.CSS_SELECTOR, ".secure-boot").text
        self.assertTrue(note.startswith("signed by Debian Secure Boot"), note)
        # Let the sign-in notice go, so the picture shows the catalog as it stays.
        self.wait(lambda: not self.driver.find_elements(By.CSS_SELECTOR, "#notices .message"), "the notice faded")
        self.shot("console")
        self.no_dialog()
        self.collect_console()
        self.assertEqual(self.console_errors, [], "the browser console had errors:\n" + "\n".join(self.console_errors))

    test_2_a_wrong_token_shows_the_apis_sentence = None
    test_3_sign_in_and_disable_an_entry = None
    test_4_drag_an_entry_to_the_top = None
    test_5_keyboard_moves_an_entry = None
    test_6_edit_a_name = None
    test_7_refresh_after_adding_a_file = None
    test_8_search_and_filter = None
    test_9_preview_hosts_and_audit = None


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--catalog", required=True)
    parser.add_argument("--spare")
    parser.add_argument("--expect", type=int, help="a large catalog of this many entries: check paging and search only")
    parser.add_argument("--screenshots", required=True)
    parser.add_argument("--cafile", help="the certificate of an https --base, for the API checks")
    parser.add_argument("--demo", action="store_true", help="the demo catalog: its picture only")
    ARGS = parser.parse_args()
    case = DemoCatalogShot if ARGS.demo else LargeCatalogTests if ARGS.expect else ConsoleTests
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(case)
    result = unittest.TextTestRunner(verbosity=2, failfast=True, stream=sys.stdout).run(suite)
    return 0 if result.wasSuccessful() and result.testsRun == (9 if case is ConsoleTests else 1) else 1


if __name__ == "__main__":
    sys.exit(main())
