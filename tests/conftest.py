import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# A bug inside `netspec` commands run by the tests must fail the test with its traceback, not
# become the internal-error exit status users see (tests/test_cli.py checks that one apart).
os.environ["NETSPEC_BACKTRACE"] = "1"
