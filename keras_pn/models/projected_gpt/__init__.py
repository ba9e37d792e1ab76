"""The projected GPT family: the paper's SLM-pn (and SLM-mix as a special case)."""
