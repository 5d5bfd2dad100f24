"""The data flywheel: every decision recorded so the LLM can be evaluated and replaced."""
