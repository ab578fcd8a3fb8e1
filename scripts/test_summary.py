#!/usr/bin/env python3
"""Prints what ctest ran, per preset, from the JUnit files scripts/test.sh asks ctest to write.

usage: test_summary.py NAME=build/release/ctest-junit.xml [NAME=FILE ...]
One line per preset: tests, passed, failed, skipped (with the skipped tests' names, and why where
the test printed a SKIPPED line), and every "ORACLE:" line the tests printed (the counts of the
comparisons against independent implementations). Exits 1 when a file is missing or a test failed.
"""
import sys
import xml.etree.ElementTree as ET


def summarise(name, path):
    try:
        suite = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        print(f"{name:8s} no results ({path}: {e})")
        return False
    passed, failed, skipped = [], [], []
    for case in suite.iter("testcase"):
        status = case.get("status", "")
        if status == "run" and case.find("failure") is None:
            passed.append(case)
        elif case.find("skipped") is not None or status in ("notrun", "disabled"):
            skipped.append(case)
        else:
            failed.append(case)
    total = len(passed) + len(failed) + len(skipped)
    print(f"{name:8s} {total:4d} tests: {len(passed):4d} passed, {len(failed):3d} failed, {len(skipped):3d} skipped")
    for case in skipped:
        out = case.findtext("system-out") or ""
        why = next((l.strip() for l in out.splitlines() if "SKIPPED" in l or "skipping" in l), "")
        print(f"         skipped: {case.get('name')}" + (f" ({why})" if why else ""))
    for case in failed:
        print(f"         FAILED:  {case.get('name')}")
    for case in suite.iter("testcase"):
        for line in (case.findtext("system-out") or "").splitlines():
            if line.startswith("ORACLE: "):
                print(f"         {line}")
    return not failed


def main(argv):
    if len(argv) < 2 or any("=" not in a for a in argv[1:]):
        sys.exit(__doc__)
    ok = True
    print("test summary (ctest, per preset):")
    for arg in argv[1:]:
        name, path = arg.split("=", 1)
        ok = summarise(name, path) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
