#!/usr/bin/python3
"""The web workspace in a real browser: Debian's headless Chromium driven by Selenium.

A shelter's case worker signs in, finds the referral in the inbox, accepts it, opens the granted
personal data (hostile text in it must stay text: no alert, no injected element) and signs out.
Run by tests/e2e/e2e_browser_test.cc against a running NRM; prints one line per failed check and
exits non-zero on any. Screenshots (phone width) go to --screenshots.
"""
import argparse
import json
import os
import subprocess
import sys

from selenium import webdriver
from selenium.common.exceptions import (NoAlertPresentException, StaleElementReferenceException,
                                        WebDriverException)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

parser = argparse.ArgumentParser()
parser.add_argument("--url", required=True)
parser.add_argument("--login", required=True)
parser.add_argument("--password", required=True)
parser.add_argument("--case", required=True)
parser.add_argument("--hostile", required=True, help="text that must appear as text")
parser.add_argument("--screenshots", required=True)
parser.add_argument("--intake-url", help="a first responder's workspace: record a case there first")
parser.add_argument("--reference", required=True, help="the case's reference")
parser.add_argument("--caseworker-login", required=True, help="an account with no supervisor role")
parser.add_argument("--caseworker-password", required=True)
parser.add_argument("--passagectl", required=True)
parser.add_argument("--node-dir", required=True, help="the shelter node's data directory")
parser.add_argument("--sessions", required=True, help="a session directory for passagectl")
parser.add_argument("--axe", required=True, help="axe-core's axe.min.js")
args = parser.parse_args()

failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print("FAILED: " + what, file=sys.stderr)


def no_alert(driver, where):
    try:
        driver.switch_to.alert
        check(False, where + ": a script ran (an alert is open)")
    except NoAlertPresentException:
        pass


options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
          "--window-size=390,844", "--lang=en"):
    options.add_argument(a)
# Starting Chromium can fail on a loaded machine (the driver times out waiting for it): try the
# start up to three times; the checks themselves are never retried.
for attempt in range(3):
    try:
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        break
    except Exception as e:  # noqa: BLE001 - the driver raises several kinds
        print("starting Chromium failed (attempt %d): %s" % (attempt + 1, e), file=sys.stderr)
        if attempt == 2:
            raise
driver.set_page_load_timeout(30)
os.makedirs(args.screenshots, exist_ok=True)
def navigate(element):
    """Clicks `element` and waits until the page it leads to has replaced this one: a click
    returns before the navigation it starts, and a loaded machine makes that gap visible."""
    old = driver.find_element(By.TAG_NAME, "html")
    element.click()

    def replaced(_):
        # Chromium answers a question about a node of a page being replaced either "stale" or,
        # during the swap, "does not belong to the document": both mean the old page is gone.
        try:
            old.is_enabled()
            return False
        except (StaleElementReferenceException, WebDriverException):
            return True

    WebDriverWait(driver, 30).until(replaced)


def sign_in(url, login=None, password=None):
    driver.get(url + "/login")
    driver.find_element(By.NAME, "login").send_keys(login or args.login)
    driver.find_element(By.NAME, "password").send_keys(password or args.password)
    navigate(driver.find_element(By.TAG_NAME, "button"))


def passagectl_stats():
    """The counts `passagectl --json stats --by sex,age_band` gives now, in order, total last,
    suppressed as <k (primary) or x (secondary)."""
    env = dict(os.environ, PASSAGE_SESSION_DIR=args.sessions)
    subprocess.run([args.passagectl, "--node", args.node_dir, "login", args.login,
                    "--password-file", "-"], input=args.password + "\n", env=env, check=True,
                   capture_output=True, text=True)
    out = subprocess.run([args.passagectl, "--node", args.node_dir, "--json", "stats", "--by",
                          "sex,age_band"], env=env, check=True, capture_output=True,
                         text=True).stdout
    table = json.loads(out)["table"]
    cell = lambda c: (("x" if c.get("suppression") == "secondary" else "<%d" % table["k"])
                      if c["suppressed"] else str(c["count"]))
    return ",".join([cell(c) for c in table["cells"]] + [cell(table["total"])])


def sign_out():
    navigate(driver.find_element(By.XPATH, "//form[@action='/logout']//button"))


with open(args.axe, encoding="utf-8") as f:
    AXE = f.read()


def accessible(page):
    """axe-core's rules on the page as it is: no serious or critical violation."""
    driver.execute_script(AXE)
    found = driver.execute_async_script(
        "var done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']})"
        ".then(function (r) { done(r.violations.map(function (v) {"
        "  return [v.id, v.impact, v.nodes.length, v.help]; })); })"
        ".catch(function (e) { done([['axe-error', 'critical', 0, String(e)]]); });")
    serious = [v for v in found if v[1] in ("serious", "critical")]
    for v in serious:
        print("axe on %s: %s (%s, %d element(s)): %s" % (page, v[0], v[1], v[2], v[3]),
              file=sys.stderr)
    check(not serious, "axe-core finds no serious accessibility violation on the %s" % page)


try:
    if args.intake_url:
        # A police officer records a presumed victim in the intake form.
        sign_in(args.intake_url)
        driver.get(args.intake_url + "/intake")
        Select(driver.find_element(By.NAME, "crime_type")).select_by_value("CRIME_TYPE_TIP")
        Select(driver.find_element(By.NAME, "sex")).select_by_value("SEX_FEMALE")
        Select(driver.find_element(By.NAME, "identification_channel")).select_by_value(
            "IDENTIFICATION_CHANNEL_POLICE_OPERATION")
        driver.save_screenshot(os.path.join(args.screenshots, "intake.png"))
        for name, value in (("age_years", "19"), ("citizenship", "PK"),
                            ("country_of_identification", "PK"),
                            ("province_of_identification", "PK-SD"), ("given_name", "Browser"),
                            ("family_name", "Person")):
            driver.find_element(By.NAME, name).send_keys(value)
        for value in ("EXPLOITATION_FORM_SEXUAL_EXPLOITATION", "CONSENT_SCOPE_SERVICES",
                      "CONSENT_SCOPE_SHARE_WITH_AGENCIES"):
            driver.find_element(By.CSS_SELECTOR, 'input[value="%s"]' % value).click()
        navigate(driver.find_element(By.XPATH, "//form[@action='/intake']//button"))
        check("The case was recorded" in driver.find_element(By.TAG_NAME, "body").text,
              "the intake form records the case")
        navigate(driver.find_element(By.XPATH, "//form[@action='/logout']//button"))

    driver.get(args.url + "/")
    check(driver.current_url.endswith("/login"), "an unsigned visit goes to the sign-in page")
    driver.save_screenshot(os.path.join(args.screenshots, "sign-in.png"))
    driver.find_element(By.NAME, "login").send_keys(args.login)
    driver.find_element(By.NAME, "password").send_keys("not the password")
    navigate(driver.find_element(By.TAG_NAME, "button"))
    check("not accepted" in driver.find_element(By.TAG_NAME, "body").text,
          "a wrong password is answered on the page")
    driver.find_element(By.NAME, "login").send_keys(args.login)
    driver.find_element(By.NAME, "password").send_keys(args.password)
    navigate(driver.find_element(By.TAG_NAME, "button"))
    check(driver.title.startswith("Inbox"), "signing in opens the inbox (title %r)" % driver.title)
    driver.save_screenshot(os.path.join(args.screenshots, "inbox.png"))
    links = driver.find_elements(By.CSS_SELECTOR, 'a[href="/cases/%s"]' % args.case)
    check(len(links) == 1, "the inbox lists the referred case once")
    if links:
        navigate(links[0])
    check(driver.title.startswith("Case"), "the case page opens")
    Select(driver.find_element(By.NAME, "action")).select_by_value("accept")
    navigate(driver.find_element(By.XPATH, "//form[contains(@action,'/referrals/')]//button"))
    check("shelter: accepted" in driver.find_element(By.TAG_NAME, "body").text.lower(),
          "after accepting, the case page shows the referral accepted")
    check(args.reference in driver.find_element(By.TAG_NAME, "body").text,
          "the case page shows the case reference")
    check(len(driver.find_elements(By.CSS_SELECTOR, "svg.timeline circle")) >= 3,
          "the journey is drawn as a timeline")
    driver.save_screenshot(os.path.join(args.screenshots, "case.png"))
    accessible("case page")
    driver.find_element(By.NAME, "purpose").send_keys("admission interview")
    navigate(driver.find_element(By.XPATH, "//form[contains(@action,'/personal')]//button"))
    no_alert(driver, "personal data page")
    body = driver.find_element(By.TAG_NAME, "body").text
    check(args.hostile in body, "the hostile name is shown as text")
    check(not driver.find_elements(By.CSS_SELECTOR, "main img, main script"),
          "no element was injected into the page")
    check("recorded in the NRM's access log" in body, "the opening says it was recorded")
    driver.save_screenshot(os.path.join(args.screenshots, "personal-data.png"))

    # The reference, typed loosely into the header's search box, opens the case.
    box = driver.find_element(By.CSS_SELECTOR, "header input[name=reference]")
    box.send_keys(args.reference.lower().replace("-", " "))
    navigate(driver.find_element(By.XPATH, "//header//form[@action='/search']//button"))
    check(driver.current_url.endswith("/cases/" + args.case),
          "searching the reference opens its case (at %s)" % driver.current_url)

    # The dashboard's numbers are the node's statistics, with the same suppression.
    expected = passagectl_stats()
    driver.get(args.url + "/dashboard")
    cells = [td.text for td in driver.find_elements(By.CSS_SELECTOR, "#t-sex_age_band td.num")]
    check(",".join(cells) == expected,
          "the dashboard shows %r where passagectl stats says %r" % (",".join(cells), expected))
    driver.save_screenshot(os.path.join(args.screenshots, "dashboard.png"))
    accessible("dashboard")
    driver.get(args.url + "/")
    accessible("inbox")

    # Urdu, right to left, remembered with the account.
    Select(driver.find_element(By.NAME, "lang")).select_by_value("ur")
    navigate(driver.find_element(By.XPATH, "//form[@action='/language']//button"))
    html = driver.find_element(By.TAG_NAME, "html")
    check(html.get_attribute("dir") == "rtl" and html.get_attribute("lang") == "ur",
          "the Urdu pages are right to left (dir=%r lang=%r)" % (html.get_attribute("dir"),
                                                                  html.get_attribute("lang")))
    check("\u0622" in driver.title or "\u0627" in driver.title or
          any("\u0600" <= ch <= "\u06ff" for ch in driver.title),
          "the Urdu inbox's title is in Urdu (%r)" % driver.title)
    driver.save_screenshot(os.path.join(args.screenshots, "inbox-ur.png"))
    accessible("Urdu inbox")
    Select(driver.find_element(By.NAME, "lang")).select_by_value("en")
    navigate(driver.find_element(By.XPATH, "//form[@action='/language']//button"))
    sign_out()
    check(driver.current_url.endswith("/login"), "signing out returns to the sign-in page")
    driver.get(args.url + "/")
    check(driver.current_url.endswith("/login"), "after signing out the inbox is closed")

    # A case worker may not refer without the victim's consent: that is a supervisor's call.
    sign_in(args.url, args.caseworker_login, args.caseworker_password)
    driver.get(args.url + "/cases/" + args.case)
    driver.find_element(By.NAME, "override").click()
    driver.find_element(By.NAME, "override_reason").send_keys("danger tonight")
    navigate(driver.find_element(By.CSS_SELECTOR, "form[action$='/refer'] button"))
    body = driver.find_element(By.TAG_NAME, "body").text
    check("supervisor" in body and driver.title.startswith("Not done"),
          "a case worker's override is refused, naming the supervisor role (%r)" % body[-300:])
    driver.save_screenshot(os.path.join(args.screenshots, "override-refused.png"))
    sign_out()
finally:
    driver.quit()

print("%d check(s) failed" % len(failures) if failures else "all browser checks passed")
sys.exit(1 if failures else 0)
