// The boot menu's order and texts: the enabled entries from /pxe, reordered by dragging or by
// keyboard (Alt+Up / Alt+Down, or each row's buttons), and edited in place.
import { request, token } from "./api.js";
import { element, replaceChildren } from "./dom.js";

export class MenuView {
  constructor(ui) {
    this.ui = ui;
    this.entries = [];
    this.list = document.getElementById("menu-rows");
    this.editing = null;
  }

  async load() {
    const listing = await request("GET", "/pxe");
    this.entries = listing.pxe_containers;
    this.render();
  }

  render(focusID) {
    const admin = Boolean(token());
    replaceChildren(this.list, this.entries.map((entry, index) => this.row(entry, index, admin)));
    if (focusID) this.list.querySelector(`li[data-id="${CSS.escape(focusID)}"]`)?.focus();
  }

  row(entry, index, admin) {
    const ready = entry.boot.ready ? entry.boot.kind : entry.boot.state.replace("_", " ");
    const item = element("li", {
      tabindex: 0, dataset: { id: entry.id }, className: admin ? "movable" : "",
      "aria-label": `${index + 1}. ${entry.name}`,
      onkeydown: (event) => this.key(event, entry, index),
      onpointerdown: (event) => this.startDrag(event, entry, item),
    },
    admin ? element("span", { className: "grip", "aria-hidden": "true", title: "Drag to move" }, "⠿") : null,
    element("span", { className: "position" }, `${index + 1}.`),
    element("span", { className: "name" }, entry.name),
    entry.pxe_description ? element("span", { className: "description" }, entry.pxe_description) : null,
    element("span", { className: `boot boot-${entry.boot.ready ? "ready" : entry.boot.state}` }, ready),
    admin ? element("span", { className: "actions" },
      element("button", { type: "button", disabled: index === 0, "aria-label": `Move ${entry.name} up`, onclick: () => this.moveBy(entry, index, -1) }, "Up"),
      element("button", { type: "button", disabled: index === this.entries.length - 1, "aria-label": `Move ${entry.name} down`, onclick: () => this.moveBy(entry, index, 1) }, "Down"),
      element("button", { type: "button", "aria-label": `Edit ${entry.name}`, onclick: () => this.edit(entry, item) }, "Edit")) : null);
    return item;
  }

  key(event, entry, index) {
    if (!event.altKey || !token()) return;
    if (event.key === "ArrowUp" && index > 0) { event.preventDefault(); this.moveBy(entry, index, -1); }
    if (event.key === "ArrowDown" && index < this.entries.length - 1) { event.preventDefault(); this.moveBy(entry, index, 1); }
  }

  moveBy(entry, index, step) {
    return this.moveTo(entry, this.entries[index + step]);
  }

  // Dragging with pointer events (mouse, pen and touch alike): the row under the pointer when it
  // is released is where the entry goes. Buttons and fields inside a row keep their clicks.
  startDrag(event, entry, item) {
    if (!token() || event.button !== 0 || event.target.closest("button, input, form")) return;
    const startY = event.clientY;
    let dragging = false, target = null;
    const rowAt = (x, y) => document.elementFromPoint(x, y)?.closest("#menu-rows > li");
    const move = (moveEvent) => {
      if (!dragging && Math.abs(moveEvent.clientY - startY) < 4) return;
      dragging = true;
      item.classList.add("dragging");
      const over = rowAt(moveEvent.clientX, moveEvent.clientY);
      if (target && target !== over) target.classList.remove("drop-target");
      target = over && over !== item ? over : null;
      target?.classList.add("drop-target");
    };
    const end = () => {
      document.removeEventListener("pointermove", move);
      document.removeEventListener("pointerup", end);
      document.removeEventListener("pointercancel", end);
      item.classList.remove("dragging");
      target?.classList.remove("drop-target");
      const destination = target && this.entries.find((candidate) => candidate.id === target.dataset.id);
      if (dragging && destination) this.moveTo(entry, destination);
    };
    document.addEventListener("pointermove", move);
    document.addEventListener("pointerup", end);
    document.addEventListener("pointercancel", end);
    event.preventDefault();   // no text selection while dragging
  }

  // The server moves an entry to a position and shifts the others: taking the target's position
  // puts it before the target when moving up and after it when moving down.
  async moveTo(entry, target) {
    try {
      await request("POST", `/pxe/${entry.id}/menu`, { body: { boot_order: target.boot_order } });
      this.ui.notice(`${entry.name} moved to position ${this.entries.indexOf(target) + 1}.`);
      await this.load();
      this.render(entry.id);
      this.ui.changed();
    } catch (error) {
      this.ui.error(error);
    }
  }

  edit(entry, item) {
    const field = (label, name, value, hint) => element("label", {},
      element("span", {}, label),
      element("input", { name, value: value ?? "", placeholder: hint, spellcheck: "false" }));
    const form = element("form", { className: "edit", onsubmit: (event) => { event.preventDefault(); this.save(entry, form); } },
      field("Menu name", "name", entry.pxe_name, "the container's own name"),
      field("Description", "description", entry.pxe_description, "none"),
      field("Kernel command line", "cmdline", entry.pxe_cmdline, "the container's own"),
      element("button", { type: "submit" }, "Save"),
      element("button", { type: "button", onclick: () => this.render(entry.id) }, "Cancel"));
    item.appendChild(form);
    form.querySelector("input").focus();
  }

  // Empty fields reset to the container's own values (null); unchanged ones are not sent.
  async save(entry, form) {
    const body = {};
    for (const [name, current] of [["name", entry.pxe_name], ["description", entry.pxe_description], ["cmdline", entry.pxe_cmdline]]) {
      const value = form.elements[name].value.trim();
      const wanted = value === "" ? null : value;
      if (wanted !== (current ?? null)) body[name] = wanted;
    }
    if (!Object.keys(body).length) { this.render(entry.id); return; }
    try {
      await request("POST", `/pxe/${entry.id}/menu`, { body });
      this.ui.notice(`Saved the menu entry of ${entry.name}.`);
      await this.load();
      this.render(entry.id);
      this.ui.changed();
    } catch (error) {
      this.ui.error(error);
    }
  }
}
