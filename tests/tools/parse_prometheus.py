"""Parses Prometheus text from stdin with the reference client's parser and prints
every family and sample as JSON, so a Rust test can check `/metrics` output.
Exits non-zero (with the parser's message) on text it rejects."""

import json
import sys

from prometheus_client.parser import text_string_to_metric_families

families = []
for family in text_string_to_metric_families(sys.stdin.read()):
    families.append({
        "name": family.name,
        "type": family.type,
        "documentation": family.documentation,
        "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in family.samples],
    })
json.dump(families, sys.stdout)
