"""The GPT family: the paper's SLM and LLM."""
