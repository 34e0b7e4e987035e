#!/usr/bin/env python
# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Stand-in for the get-pip.py bootstrap script ansible-test downloads.

ansible-test creates an empty virtual environment and runs
``python get_pip_<ver>.py [pip options] pip==<ver> --no-setuptools --no-wheel``.
When the download host is out of reach, tests/sanity/prime_cache.py puts this
file in ansible-test's cache instead: it installs pip with the interpreter's own
ensurepip, then lets that pip install the requested packages from the index
this machine can reach.
"""

import subprocess
import sys


def main(argv):
    args = [arg for arg in argv if arg not in ("--no-setuptools", "--no-wheel")]
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"], stdout=subprocess.DEVNULL)
    return subprocess.call([sys.executable, "-m", "pip", "install"] + args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
