from facewarp.cli import run

run()
