"""The run report: report.json for tools, report.html (self-contained, inline PNG plots) for people."""
