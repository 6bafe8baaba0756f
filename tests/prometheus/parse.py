"""Parses the Prometheus text format on stdin with the official client
library's parser and prints every sample as JSON: a list of
[name, labels, value]. A scrape the parser refuses fails with its error."""

import json
import sys

from prometheus_client.parser import text_string_to_metric_families

samples = []
kinds = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    kinds[family.name] = family.type
    for sample in family.samples:
        samples.append([sample.name, sample.labels, sample.value])
print(json.dumps({"types": kinds, "samples": samples}))
