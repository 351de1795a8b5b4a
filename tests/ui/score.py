# Exists so `command("python3 score.py")` in the specs here passes the pre-flight check.
