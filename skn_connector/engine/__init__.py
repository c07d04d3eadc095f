"""The pipeline and its rules: conversations, deadlines, answers."""
