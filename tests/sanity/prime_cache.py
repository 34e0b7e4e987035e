#!/usr/bin/env python
# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Make sure ansible-test finds its pip bootstrap script in its cache.

Usage: prime_cache.py PATH/TO/site-packages/ansible_test

Reads the pip version the installed ansible-test bootstraps, tries the real
download once, and when that fails (CI cannot reach ci-files.testing.ansible.com)
installs tests/sanity/get_pip_standin.py under the cache name ansible-test
looks for: ~/.ansible/test/cache/get_pip_<ver>.py.
"""

import os
import re
import shutil
import sys
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


def pip_version(ansible_test_dir):
    with open(os.path.join(ansible_test_dir, "_internal", "python_requirements.py"), encoding="utf-8") as handle:
        match = re.search(r"pip='([0-9.]+)'", handle.read())
    if not match:
        raise SystemExit("prime_cache: cannot find the pip version in ansible-test's python_requirements.py")
    return match.group(1)


def main(argv):
    if len(argv) != 1:
        raise SystemExit(__doc__)
    version = pip_version(argv[0])
    cache = os.path.expanduser("~/.ansible/test/cache/get_pip_%s.py" % version.replace(".", "_"))
    if os.path.exists(cache):
        print("prime_cache: %s already present" % cache)
        return 0
    os.makedirs(os.path.dirname(cache), exist_ok=True)
    url = "https://ci-files.testing.ansible.com/ansible-test/get-pip-%s.py" % version
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            data = response.read()
        with open(cache + ".download", "wb") as handle:
            handle.write(data)
        os.rename(cache + ".download", cache)
        print("prime_cache: downloaded %s" % url)
    except OSError as exc:
        shutil.copyfile(os.path.join(HERE, "get_pip_standin.py"), cache)
        print("prime_cache: %s unreachable (%s); using the ensurepip stand-in for pip %s" % (url, exc, version))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
