"""unittest cases for how the Python binding finds its library: inside the
installed package, or exactly the file SIMPLEP2P_LIB names, of the module's
own version; anything else is an ImportError that says what was found.
Each import runs in a fresh interpreter, from a folder outside the
repository, with no PYTHONPATH. No peer is opened."""
import _ctypes
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import simplep2p  # the installed package (make test installs it in target/pyenv)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class ImportTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="sp2p-py-import-")
        self.addCleanup(shutil.rmtree, self.dir)

    def run_import(self, lib=None, code="import simplep2p; print(simplep2p.__file__); print(simplep2p._lib_path)"):
        env = {k: v for k, v in os.environ.items() if k not in ("SIMPLEP2P_LIB", "PYTHONPATH")}
        if lib is not None:
            env["SIMPLEP2P_LIB"] = lib
        return subprocess.run([sys.executable, "-c", code], cwd=self.dir, env=env, capture_output=True, timeout=60)

    def import_error(self, lib):
        out = self.run_import(lib)
        self.assertNotEqual(out.returncode, 0, out.stdout)
        last = out.stderr.decode().strip().splitlines()[-1]
        self.assertTrue(last.startswith("ImportError: simplep2p: "), last)
        return last

    def test_it_imports_from_any_folder_with_the_library_inside_the_package(self):
        out = self.run_import()
        self.assertEqual(out.returncode, 0, out.stderr)
        module, lib = out.stdout.decode().splitlines()
        package = os.path.dirname(module)
        self.assertEqual(os.path.dirname(lib), package)
        self.assertTrue(os.path.basename(lib).startswith("libsimplep2p"), lib)
        # The installed copy, not the source tree's module.
        self.assertFalse(package.startswith(os.path.join(REPO, "bindings")), package)

    def test_simplep2p_lib_naming_no_file_is_an_import_error_not_another_library(self):
        last = self.import_error("/nonexistent.so")
        self.assertIn("SIMPLEP2P_LIB=/nonexistent.so: no such file", last)
        self.assertIn("unset it", last)

    def test_a_file_that_is_not_a_library_is_an_import_error(self):
        path = os.path.join(self.dir, "libsimplep2p.so")
        with open(path, "w") as f:
            f.write("not a library\n")
        last = self.import_error(path)
        self.assertIn("is not a shared library this system can load", last)

    def test_a_library_that_is_not_simplep2p_is_an_import_error(self):
        last = self.import_error(_ctypes.__file__)
        self.assertIn("is not libsimplep2p: it has no sp2p_version", last)

    @unittest.skipUnless(shutil.which("cc"), "needs a C compiler")
    def test_a_library_of_another_version_is_an_import_error(self):
        source = os.path.join(self.dir, "old.c")
        with open(source, "w") as f:
            f.write('const char *sp2p_version(void) { return "0.0.1"; }\n')
        lib = os.path.join(self.dir, "libold.so")
        subprocess.run(["cc", "-shared", "-fPIC", "-o", lib, source], check=True)
        last = self.import_error(lib)
        self.assertIn("is libsimplep2p 0.0.1, but this module is %s" % simplep2p.__version__, last)

    @unittest.skipUnless(shutil.which("cc"), "needs a C compiler")
    def test_a_library_of_this_version_built_before_its_calls_is_an_import_error(self):
        # The version is not bumped for the IPv6 calls: a library built
        # before them says 0.1.0 too, and must not fail later with an
        # AttributeError.
        source = os.path.join(self.dir, "older.c")
        with open(source, "w") as f:
            f.write('const char *sp2p_version(void) { return "%s"; }\n' % simplep2p.__version__)
        lib = os.path.join(self.dir, "libolder.so")
        subprocess.run(["cc", "-shared", "-fPIC", "-o", lib, source], check=True)
        last = self.import_error(lib)
        self.assertIn("has no sp2p_options_set_family: it was built from older sources than this module", last)

    def test_simplep2p_lib_may_name_a_library_of_the_same_version(self):
        copy = os.path.join(self.dir, "libsimplep2p.so")
        shutil.copy(simplep2p._lib_path, copy)
        out = self.run_import(copy)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.decode().splitlines()[1], copy)

    def test_module_and_library_are_one_version(self):
        self.assertEqual(simplep2p._lib.sp2p_version().decode(), simplep2p.__version__)


if __name__ == "__main__":
    unittest.main()
