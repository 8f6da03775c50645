"""Count a pytest JUnit report for .ci/run: prints "N passed, N skipped, N failed, N errors";
exits 1 when anything failed or errored, or when no test passed (all skipped counts as none)."""

import sys
import xml.etree.ElementTree as ET

if len(sys.argv) != 2 or sys.argv[1] in ("-h", "--help"):
    sys.exit("usage: python .ci/junit_counts.py REPORT.xml")
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
n = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
passed = n["tests"] - n["failures"] - n["errors"] - n["skipped"]
print(f"{passed} passed, {n['skipped']} skipped, {n['failures']} failed, {n['errors']} errors")
sys.exit(1 if n["failures"] or n["errors"] or passed == 0 else 0)
