"""The report and the live view in a real browser (headless Debian chromium): the page loads
without console errors and fetches nothing, every layer has its box, a click shows shapes and
source, a saved edit shows up live, and a broken net's error is marked on its layer."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from browser import launch
from test_view import serving

from netspec import cli
from netspec.pipeline import check

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A page that records console errors, uncaught exceptions and every request it makes."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    tab = context.new_page()
    tab.problems, tab.requests = [], []
    tab.on("console", lambda m: m.type == "error" and tab.problems.append(m.text))
    tab.on("pageerror", lambda e: tab.problems.append(str(e)))
    tab.on("request", lambda r: tab.requests.append(r.url))
    yield tab
    context.close()


def test_the_report_of_a_zoo_net_has_a_box_for_every_layer_and_fetches_nothing(page, tmp_path):
    out = tmp_path / "googlenet.html"
    assert cli.main(["report", "zoo:googlenet", "-o", str(out)]) == cli.OK
    page.goto(out.as_uri())
    layers = [i.layer.name for i in check("zoo:googlenet").analysis.layers]
    drawn = page.eval_on_selector_all("#picture [data-layer]", "els => els.map(e => e.dataset.layer)")
    assert sorted(drawn) == sorted(layers)
    assert page.problems == [] and page.requests == [out.as_uri()]
    # the box is on screen: drawn with a size, not just present in the document
    box = page.locator('#picture [data-layer="inception_4a/3x3"]').bounding_box()
    assert box["width"] > 100 and box["height"] > 40


def test_clicking_a_box_shows_its_shapes_parameters_and_source(page, tmp_path):
    out = tmp_path / "alexnet.html"
    assert cli.main(["report", "zoo:alexnet", "-o", str(out)]) == cli.OK
    page.goto(out.as_uri())
    page.click('#picture .node[data-layer="conv2"]')
    details = page.inner_text("#details")
    assert "pool1 1x96x27x27" in details and "conv2 1x256x27x27" in details
    assert "k5 p2 g2 out 256" in details and "307,456" in details and 'name: "conv2"' in details
    assert page.locator('#picture .node[data-layer="conv2"]').get_attribute("class").endswith("selected")
    page.click('#picture .tag[data-layer="relu2"]')  # a folded layer is clickable on its own
    assert page.inner_text("#details .layer-name") == "relu2"
    assert page.problems == []


def test_clicking_a_collapsed_block_shows_the_block_and_its_layers(page, tmp_path):
    out = tmp_path / "resnet50.html"
    assert cli.main(["report", "zoo:resnet50", "--collapse", "-o", str(out)]) == cli.OK
    page.goto(out.as_uri())
    block = page.locator('#picture .node:has-text("res3a…res3d")')
    block.click()
    details = page.inner_text("#details")
    analysis = check("zoo:resnet50").analysis
    stage = ("3a", "3b", "3c", "3d")  # res3a, bn3a_branch1, ..., res3d_relu: the stage's 55 layers
    inside = [
        i for i in analysis.layers if any(i.layer.name.endswith(s) or f"{s}_" in i.layer.name for s in stage)
    ]
    params, macs = sum(i.params for i in inside), sum(i.macs for i in inside)
    assert page.inner_text("#details .layer-name") == "res3a…res3d"
    assert "blocks\t4" in details and "1x256x56x56" in details and "1x512x28x28" in details
    assert f"{params:,}" in details and f"{macs:,}" in details
    assert "Convolution" not in details.split("layers")[0]  # the block, not its first layer
    assert "res3a_branch2b" in details and "res3d_relu" in details  # its layers, listed
    assert "selected" in block.get_attribute("class").split()
    page.click('#details [data-layer="res3b_branch2a"]')  # a layer of the block, on its own
    assert page.inner_text("#details .layer-name") == "res3b_branch2a"
    assert "selected" in block.get_attribute("class").split()
    assert page.problems == []


def test_a_saved_edit_shows_up_in_the_live_view(page, tmp_path):
    spec = tmp_path / "lenet.prototxt"
    spec.write_text((ROOT / "netspec" / "zoo" / "lenet.prototxt").read_text())
    with serving(spec, "--port", "0") as (_, port):
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_selector('#picture .node[data-layer="ip2"]')
        page.click('#picture .node[data-layer="ip2"]')
        spec.write_text(
            spec.read_text() + '\nlayer { name: "extra" type: "Sigmoid" bottom: "prob" top: "extra" }\n'
        )
        saved = time.monotonic()
        page.wait_for_selector('#picture [data-layer="extra"]', timeout=5000)
        redrawn = time.monotonic() - saved
        assert redrawn < 1.0, f"the page redrew {redrawn:.2f} s after the save"
        # the selection survives the redraw
        assert page.locator('#picture .node[data-layer="ip2"]').get_attribute("class").endswith("selected")
        assert page.problems == []


def test_a_broken_nets_error_is_marked_on_its_layer_and_clicking_it_shows_the_line(page, tmp_path):
    spec = tmp_path / "demo.prototxt"
    spec.write_text((ROOT / "docs" / "demo.prototxt").read_text())
    with serving(spec, "--port", "0") as (_, port):
        page.goto(f"http://127.0.0.1:{port}/")
        conv2 = page.locator('#picture .node[data-layer="conv2"]')
        assert "error" in conv2.get_attribute("class").split()
        assert "error" not in page.locator('#picture .node[data-layer="conv1"]').get_attribute("class")
        page.click(".diagnostic:has-text('kernal_size')")
        assert "selected" in conv2.get_attribute("class").split()
        details = page.inner_text("#details")
        assert "convolution_param { num_output: 32 kernal_size: 3 } }" in details and "NS0103" in details
        assert page.problems == []
