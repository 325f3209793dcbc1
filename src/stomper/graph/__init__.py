"""The fix run as a LangGraph state machine (see `build.py` for its shape)."""
