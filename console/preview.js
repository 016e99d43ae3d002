// The boot menu as iPXE draws it: the `menu` title, `item` lines (gaps are headings or blank
// lines, keys shown as iPXE shows them) and the default choice, read from /pxe/menu.ipxe.
import { request } from "./api.js";
import { element, replaceChildren } from "./dom.js";

export function parseMenu(script) {
  const menu = { title: "", items: [], defaultLabel: null, timeoutSeconds: null };
  let defaultSetting = null;
  for (const line of script.split("\n")) {
    const words = line.trim().split(/\s+/);
    if (words[0] === "isset" && words[3] === "set" && words[4] === "pxe_default") defaultSetting = words[5];
    if (words[0] === "menu") menu.title = line.trim().slice(5);
    if (words[0] === "item") {
      let rest = words.slice(1);
      let key = null, gap = false;
      while (rest[0]?.startsWith("--")) {
        if (rest[0] === "--key") { key = rest[1]; rest = rest.slice(2); } else { gap = rest[0] === "--gap"; rest = rest.slice(1); }
      }
      if (gap) {
        menu.items.push({ gap: true, text: line.replace(/^\s*item\s+--gap\s?/, "") });
      } else {
        menu.items.push({ gap: false, key, label: rest[0], text: rest.slice(1).join(" ") });
      }
    }
    if (words[0] === "choose") {
      const timeout = words.indexOf("--timeout");
      if (timeout > 0) menu.timeoutSeconds = Number(words[timeout + 1]) / 1000;
    }
  }
  menu.defaultLabel = defaultSetting;
  return menu;
}

export class PreviewView {
  constructor(ui) {
    this.ui = ui;
    this.screen = document.getElementById("preview-screen");
    this.script = document.getElementById("preview-script");
  }

  async load() {
    const script = await request("GET", "/pxe/menu.ipxe", { text: true });
    this.script.textContent = script;
    const menu = parseMenu(script);
    const lines = menu.items.map((item) => item.gap
      ? element("div", { className: "screen-gap" }, item.text || " ")
      : element("div", { className: item.label === menu.defaultLabel ? "screen-item selected" : "screen-item", dataset: { label: item.label } },
        item.text));
    replaceChildren(this.screen,
      element("div", { className: "screen-title" }, menu.title),
      element("div", { className: "screen-items" }, lines),
      menu.timeoutSeconds ? element("div", { className: "screen-footer" }, `Default in ${menu.timeoutSeconds} s`) : null);
  }
}
