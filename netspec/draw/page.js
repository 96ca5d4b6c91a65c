// The page's behaviour: click a layer or a diagnostic to see it; a live page follows its file.
"use strict";
(function () {
  let data = JSON.parse(document.getElementById("netspec-data").textContent);
  let chosen = null;  // {layer} or {diagnostic}
  const number = (n) => (n ? n.toLocaleString("en-US") : "0");

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
    children.forEach((c) => node.append(c));
    return node;
  }

  function clearMarks() {
    document.querySelectorAll(".selected").forEach((e) => e.classList.remove("selected"));
  }

  function markLayer(name) {
    const layer = data.layers[name];
    if (!layer) return;
    const box = layer.node && document.getElementById(layer.node);
    if (box) {
      box.classList.add("selected");
      box.scrollIntoView({ block: "center", inline: "center" });
    }
    document.querySelectorAll("#picture .tag").forEach((t) => {
      if (t.dataset.layer === name) t.classList.add("selected");
    });
    document.querySelectorAll("tr[data-layer]").forEach((r) => {
      if (r.dataset.layer === name) r.classList.add("selected");
    });
  }

  function sourceBlock(lines, first) {
    const width = String(first + lines.length).length;
    const text = lines.map((l, i) => String(first + i).padStart(width) + " | " + l).join("\n");
    return el("pre", { class: "source" }, text);
  }

  function layerDetails(name) {
    const layer = data.layers[name];
    const rows = [
      ["type", layer.type],
      ["parameters", layer.parameters || "-"],
      ["reads", layer.bottoms.map(([b, s]) => b + " " + s).join(", ") || "-"],
      ["writes", layer.tops.map(([t, s]) => t + " " + s).join(", ") || "-"],
      ["learned values", number(layer.params) + (layer.buffers ? " (+" + number(layer.buffers) + " statistics)" : "")],
      ["multiply-adds", number(layer.macs)],
      ["memory", layer.memory || "-"],
      ["receptive field", layer.receptive_field || "-"],
    ];
    const table = el("table", { class: "layer" });
    rows.forEach(([k, v]) => table.append(el("tr", {}, el("th", {}, k), el("td", {}, v))));
    const out = [el("h2", { class: "layer-name" }, layer.name), table];
    if (layer.source.length) out.push(sourceBlock(layer.source, layer.first_line));
    data.diagnostics
      .filter((d) => d.layer === name)
      .forEach((d) => out.push(el("pre", { class: "diagnostic " + d.severity }, d.text)));
    return out;
  }

  function blockDetails(key) {
    const block = data.blocks[key];
    const rows = [
      ["blocks", String(block.count)],
      ["reads", block.reads || "-"],
      ["writes", block.writes || "-"],
      ["learned values", number(block.params)],
      ["multiply-adds", number(block.macs)],
    ];
    const table = el("table", { class: "layer" });
    rows.forEach(([k, v]) => table.append(el("tr", {}, el("th", {}, k), el("td", {}, v))));
    const names = el("p", { class: "block-layers" });
    block.layers.forEach((name, i) => {
      if (i) names.append(", ");
      names.append(el("a", { href: "#", "data-layer": name }, name));
    });
    return [el("h2", { class: "layer-name" }, block.name), table, el("h3", {}, block.layers.length + " layers"), names];
  }

  function show(choice) {
    chosen = choice;
    clearMarks();
    const details = document.getElementById("details");
    details.replaceChildren();
    if (choice.diagnostic !== undefined) {
      const d = data.diagnostics[choice.diagnostic];
      if (!d) return;
      const item = document.querySelector('.diagnostic[data-index="' + choice.diagnostic + '"]');
      if (item) item.classList.add("selected");
      details.append(el("pre", { class: "diagnostic " + d.severity }, d.text));
      if (d.layer) {
        markLayer(d.layer);
        details.append(...layerDetails(d.layer).slice(0, 2));
      }
    } else if (data.blocks && data.blocks[choice.block]) {
      const box = document.getElementById(choice.block);
      if (box) box.classList.add("selected");
      details.append(...blockDetails(choice.block));
    } else if (data.layers[choice.layer]) {
      markLayer(choice.layer);
      details.append(...layerDetails(choice.layer));
    } else {
      details.append(el("p", { class: "hint" }, "Click a layer or a diagnostic."));
    }
  }

  document.addEventListener("click", (event) => {
    const diagnostic = event.target.closest(".diagnostic[data-index]");
    if (diagnostic) return show({ diagnostic: Number(diagnostic.dataset.index) });
    const block = event.target.closest("[data-block]");
    if (block) return show({ block: block.dataset.block });
    const layer = event.target.closest("[data-layer]");
    if (layer) {
      event.preventDefault();  // a layer named in a block's list is a link to nowhere
      show({ layer: layer.dataset.layer });
    }
  });

  if (document.body.dataset.live) {
    let version = null;
    let busy = false;
    async function poll() {
      if (busy) return;
      busy = true;
      try {
        const state = await (await fetch("state?since=" + (version === null ? "" : version))).json();
        if (state.version !== version) {
          version = state.version;
          for (const part of ["totals", "picture", "diagnostics", "report"]) {
            document.getElementById(part).innerHTML = state[part];
          }
          data = state.data;
          if (chosen) show(chosen);
          document.body.dataset.version = String(version);
        }
      } catch (e) {
        // the server stopped: keep the last picture
      } finally {
        busy = false;
      }
    }
    poll();
    setInterval(poll, 300);
  }
})();
