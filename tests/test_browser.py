"""Each released bundle as a student meets it: unzipped, opened in JupyterLab in headless Chromium, every stub answered
through the editor, one question checked through the UI, and the notebook saved to disk.

nbclient ignores the cell metadata front ends obey (``editable: false`` makes a cell read-only in JupyterLab), so only
a real front end shows whether a student can type an answer.

- JupyterLab (the pinned ``frontend`` extra) runs on 127.0.0.1 with a student's Python as its kernel: the requirements
  importable, this checkout's ``compresslab`` not (the notebook finds the bundle's copy, as a student's does).
- Debian's ``/usr/bin/chromium`` is driven headless by Selenium through ``/usr/bin/chromedriver`` (never Selenium
  Manager, which would download a driver: the network is closed).
- How text gets in: each stub's reference answer (``data/examples/reference``, written by ``compresslab.release.fill_answers``
  from ``solution/``) replaces the stub through the cell's CodeMirror editor: click into it, Ctrl+A, then a synthetic
  ``paste`` event carrying the answer, which CodeMirror's own paste handler inserts (and refuses in a read-only cell),
  as it does a user's Ctrl+V. Sending the long answers as key strokes would go through CodeMirror 6's auto-indentation
  and change them. Then a short comment is typed with real key strokes at the end of every stub, so typing is tested too.
- The cells the first ``grader.check`` needs (every code cell above it but the ``# grading: skip`` time-only cells and
  other checks) are run with Shift+Enter; its rendered output must say that every test case passed (Otter 7 renders
  that as "q2 passed!", its plain-text form as "All test cases passed!"). Ctrl+S saves, and the
  ``.ipynb`` on disk must hold every typed answer. Last, the export cell run the same way must name the zip it wrote
  beside the notebook, without a warning, and that zip must hold the saved notebook.

One JupyterLab server and one browser serve the whole module. Without chromium the test skips (outside CI) with how to
install it; with ``CI=true`` it fails instead.
"""

import json
import os
import re
import socket
import subprocess
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path

import nbformat
import pytest

from compresslab.grading.grading_mode import SKIP_MARKER
from compresslab.outcomes import handed_in_files
from compresslab.release import STUB_MARKER

from conftest import NOTEBOOKS, ROOT
from student_env import student_python

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--window-size=1400,1000")
TYPED = "  # answered in the browser"  # typed with key strokes at the end of every stub (no brackets: CodeMirror may close them)
CELL_SECONDS = 300  # a cell's run, in the browser (the setup cell imports torch)
# JupyterLab user settings: every cell in the page (no windowing, which leaves cells out of view out of the DOM), no news check.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
}
PASTE = """
const data = new DataTransfer();
data.setData('text/plain', arguments[1]);
arguments[0].dispatchEvent(new ClipboardEvent('paste', {clipboardData: data, bubbles: true, cancelable: true}));
"""


def _require_browser():
    """Skip (outside CI) or fail (``CI=true``) when the browser, its driver or the Python packages are missing."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    how = "install them with `apt-get install chromium chromium-driver` (as root; .ci/run does it)"
    try:
        import jupyterlab  # noqa: F401
        import selenium  # noqa: F401
    except ImportError as error:
        missing.append(error.name)
        how += " and `make setup` (the dev extras: jupyterlab, selenium)"
    if missing:
        message = f"the real-browser test needs {', '.join(missing)}: {how}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """A JupyterLab server on 127.0.0.1 serving ``root``, its kernels run by ``python``."""

    def __init__(self, python: Path, root: Path, home: Path):
        self.root, self.port, self.token = root, _free_port(), os.urandom(16).hex()
        for name, values in LAB_SETTINGS.items():
            path = home / "settings" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        env = {**os.environ, "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_DATA_DIR": str(home / "data"),
               "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
               "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        env.pop("PYTHONPATH", None)
        self.log = open(home / "lab.log", "w")
        self.process = subprocess.Popen(
            [str(python), "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={self.port}",
             f"--IdentityProvider.token={self.token}", "--LabApp.extension_manager=readonly", f"--ServerApp.root_dir={root}"],
            env=env, cwd=root, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while True:
            try:
                self.api("GET", "status")
                break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"JupyterLab did not start; see {home / 'lab.log'}") from None
                time.sleep(0.5)

    def url(self, path: str) -> str:
        """The page at ``path`` with a fresh workspace (no tab of an earlier test reopened)."""
        return f"http://127.0.0.1:{self.port}/{path}?token={self.token}&reset"

    def api(self, method: str, path: str):
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/api/{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shut_down_kernels(self):
        for session in self.api("GET", "sessions"):
            self.api("DELETE", f"sessions/{session['id']}")

    def close(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    _require_browser()
    python = student_python(tmp_path_factory.mktemp("student-env"))
    server = Lab(python, tmp_path_factory.mktemp("lab-root"), tmp_path_factory.mktemp("lab-home"))
    yield server
    server.close()


@pytest.fixture(scope="module")
def browser(lab):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tempfile.TemporaryDirectory(prefix="chromium-profile-")
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile.name}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()
    profile.cleanup()


def _cells(driver):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell")


def _editor(driver, cell):
    """The CodeMirror content element of ``cell``, scrolled into view and clicked (the cell is now in edit mode)."""
    from selenium.webdriver.common.by import By

    content = cell.find_element(By.CSS_SELECTOR, ".cm-content")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", content)
    content.click()
    return content


def _type_answer(driver, cell, answer: str):
    from selenium.webdriver.common.keys import Keys

    content = _editor(driver, cell)
    content.send_keys(Keys.CONTROL, "a")
    driver.execute_script(PASTE, content, answer)
    content.send_keys(Keys.CONTROL, Keys.END)
    content.send_keys(TYPED)


def _run(driver, cell, index: int) -> str:
    """Run ``cell`` with Shift+Enter and wait until it finished; return its rendered output text."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    _editor(driver, cell).send_keys(Keys.SHIFT, Keys.ENTER)
    prompt = cell.find_element(By.CSS_SELECTOR, ".jp-InputPrompt")
    WebDriverWait(driver, CELL_SECONDS).until(lambda d: re.fullmatch(r"\[\d+\]:", prompt.text.strip()),
                                              f"cell {index} did not finish running in {CELL_SECONDS} s")
    return "\n".join(o.text for o in cell.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output"))


def _cells_for_first_check(release: nbformat.NotebookNode) -> list[int]:
    """Indices of the code cells the first ``grader.check`` needs, that check last: every code cell above it but the
    time-only ones (``# grading: skip``)."""
    needed = []
    for index, cell in enumerate(release.cells):
        if cell.cell_type != "code" or cell.source.startswith(SKIP_MARKER):
            continue
        needed.append(index)
        if cell.source.startswith("grader.check("):
            return needed
    raise AssertionError("the release has no grader.check cell")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_student_answers_every_stub_checks_and_saves_in_jupyterlab(name, lab, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    with zipfile.ZipFile(ROOT / "assignment" / f"{name}.zip") as archive:
        archive.extractall(lab.root)
    path = lab.root / name / f"{name}.ipynb"
    release = nbformat.read(path, as_version=4)
    reference = nbformat.read(ROOT / "data" / "examples" / "reference" / f"{name}.ipynb", as_version=4)
    answers = {i: reference.cells[i].source for i, c in enumerate(release.cells) if c.cell_type == "code" and STUB_MARKER in c.source}
    assert answers, "the release has no stubs"

    browser.get(lab.url(f"lab/tree/{name}/{name}.ipynb"))
    wait = WebDriverWait(browser, 120)
    wait.until(lambda d: len(_cells(d)) == len(release.cells), f"JupyterLab did not show the {len(release.cells)} cells of {name}.ipynb")
    wait.until(lambda d: "Idle" in d.find_element(By.ID, "jp-main-statusbar").text, "the kernel did not start")
    cells = _cells(browser)
    for index, answer in answers.items():
        _type_answer(browser, cells[index], answer)

    outputs = {index: _run(browser, cells[index], index) for index in _cells_for_first_check(release)}
    check = list(outputs)[-1]
    question = re.match(r'grader\.check\("(\w+)"\)', release.cells[check].source)[1]
    assert f"{question} passed!" in outputs[check], (
        f"{name}: {release.cells[check].source} did not pass in the browser; outputs of the cells run:\n"
        + "\n".join(f"[{i}] {text[-1500:]}" for i, text in outputs.items()))

    _editor(browser, cells[check]).send_keys(Keys.CONTROL, "s")
    tab = browser.find_element(By.CSS_SELECTOR, "#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current")
    wait.until(lambda d: "jp-mod-dirty" not in tab.get_attribute("class"), "Ctrl+S did not save the notebook")
    saved = nbformat.read(path, as_version=4)
    assert len(saved.cells) == len(release.cells)
    not_saved = [release.cells[i].source.split("\n", 1)[0] for i, answer in answers.items() if saved.cells[i].source != answer + TYPED]
    assert not not_saved, f"{name}: the saved notebook lacks what was typed into {len(not_saved)} of {len(answers)} stubs: {not_saved}"

    (export_cell,) = [i for i, c in enumerate(release.cells) if c.cell_type == "code" and re.search(r"^grader\.export\(", c.source, re.M)]
    exported = _run(browser, cells[export_cell], export_cell)
    (written,) = path.parent.glob(f"{name}_*.zip")
    # only the cells up to the first check ran, so no file of an open-ended question was saved: the export names each one
    missing = [f"WARNING: no {file} in {path.parent}" for file in handed_in_files(name)]
    assert all(line in exported for line in missing), exported
    assert f"Wrote {written}" in exported and "WARNING" not in "\n".join(l for l in exported.splitlines() if not l.startswith(tuple(missing))), exported
    with zipfile.ZipFile(written) as archive:
        assert archive.read(f"{name}.ipynb") == path.read_bytes()
    lab.shut_down_kernels()
