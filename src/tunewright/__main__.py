from tunewright.cli import app

app()
