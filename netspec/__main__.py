from netspec.cli import program

program()
