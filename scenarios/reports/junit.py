"""junit.xml for CI: one test suite per scenario, one test case per check (skipped and failed marked)."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

from .cluster_facts import cluster_facts, junit_properties
from .collector import RunRecord


def junit_tree(record: RunRecord) -> ET.ElementTree:
    root = ET.Element("testsuites", name="pstnsim chaos")
    total = failures = 0
    for scenario in record.scenarios.values():
        finished = scenario.finished
        suite = ET.SubElement(root, "testsuite", name=scenario.name)
        suite_failures = suite_skipped = 0
        if finished and finished.error:
            case = ET.SubElement(suite, "testcase", classname=f"chaos.{scenario.name}", name="harness")
            message = "vacuous run: nothing was checked" if finished.verdict == "vacuous" else "the harness failed"
            ET.SubElement(case, "error", message=message).text = finished.error
            suite_failures += 1
        if finished and finished.verdict == "interrupted":
            case = ET.SubElement(suite, "testcase", classname=f"chaos.{scenario.name}", name="interrupted")
            ET.SubElement(case, "skipped", message=finished.note or "interrupted (Ctrl-C)")
            suite_skipped += 1
        violations = {v["check"]: v for v in scenario.violations}
        for item in scenario.checks:
            case = ET.SubElement(suite, "testcase", classname=f"chaos.{scenario.name}", name=item["name"])
            if item["status"] == "failed":
                violation = violations[item["name"]]
                failure = ET.SubElement(case, "failure", message=violation["title"], type="Violation")
                failure.text = "\n".join(
                    [violation["message"], "", "replay: " + violation["replay_command"], "", *violation["steps"], "",
                     json.dumps(violation["details"], indent=1, default=str)[:20000]]
                )
                suite_failures += 1
            elif item["status"] == "skipped":
                ET.SubElement(case, "skipped", message=item.get("reason") or "not applicable")
                suite_skipped += 1
        cases = len(suite.findall("testcase"))
        suite.set("tests", str(cases))
        suite.set("failures", str(suite_failures))
        suite.set("skipped", str(suite_skipped))
        suite.set("time", f"{finished.wall_time:.3f}" if finished else "0")
        ET.SubElement(suite, "properties")
        props = suite.find("properties")
        ET.SubElement(props, "property", name="seed", value=str(scenario.seed))
        ET.SubElement(props, "property", name="dialect", value=scenario.dialect)
        if finished:
            ET.SubElement(props, "property", name="virtual_time", value=f"{finished.virtual_time:.3f}")
            if finished.verdict:
                ET.SubElement(props, "property", name="verdict", value=finished.verdict)
            if finished.failure_trace:
                ET.SubElement(props, "property", name="failure_trace", value=finished.failure_trace)
            facts = cluster_facts(finished.telemetry)
            for name, value in junit_properties(facts) if facts else ():
                ET.SubElement(props, "property", name=name, value=value)
        if scenario.replay is not None:
            ET.SubElement(props, "property", name="trace", value=str(scenario.replay["trace"]))
            ET.SubElement(props, "property", name="verdict", value=str(scenario.replay["verdict"]))
            ET.SubElement(props, "property", name="recorded_violations",
                          value=",".join(scenario.replay["recorded_violations"]))
        total += cases
        failures += suite_failures
    root.set("tests", str(total))
    root.set("failures", str(failures))
    ET.indent(root)
    return ET.ElementTree(root)


def write_junit(record: RunRecord, path: Path) -> Path:
    junit_tree(record).write(path, encoding="utf-8", xml_declaration=True)
    return path
