"""The triage pipeline, one module per stage.

intake (validate the report) -> facts (normalise, derive) -> decide (durable_rules, via
runtime, with the decision cache) -> assemble (the Result). The rule pack is loaded by
pack (schema, conditions, yamlsource, vocabulary) and compiled by compiler.
"""
