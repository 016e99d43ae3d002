// Machines that booted and boots as they happen (polling /boots?since=<last id>), the
// answer-file templates and who uses each, and the settings' change history. All of it needs
// the admin token.
import { request, token } from "./api.js";
import { element, replaceChildren, localTime } from "./dom.js";

const KEPT_BOOTS = 200;

export class HostsView {
  constructor(ui) {
    this.ui = ui;
    this.lastBoot = null;
    this.hostRows = document.getElementById("host-rows");
    this.bootRows = document.getElementById("boot-rows");
    this.answerRows = document.getElementById("answer-rows");
  }

  async load() {
    if (!token()) { this.clear(); return; }
    const hosts = await request("GET", "/hosts", { admin: true });
    replaceChildren(this.hostRows, hosts.hosts.map((host) => element("tr", {},
      element("td", { className: "mono" }, host.mac),
      element("td", {}, host.hostname || ""),
      element("td", {}, host.platform || ""),
      element("td", { className: "mono" }, host.last_entry || ""),
      element("td", { className: "number" }, host.boots),
      element("td", {}, localTime(host.last_seen)),
      element("td", { className: "mono" }, host.next_boot ? host.next_boot.entry_id : ""))));
    const answers = await request("GET", "/provision/templates", { admin: true });
    replaceChildren(this.answerRows, answers.templates.length
      ? answers.templates.map((template) => element("tr", {},
        element("td", { className: "mono" }, template.name),
        element("td", {}, template.files.map((file) => `${file.name} (${file.format})`).join(", ")),
        element("td", { className: "mono" }, template.entries.join(" ")),
        element("td", {}, template.rules.join(", "))))
      : element("tr", {}, element("td", { colspan: 4 }, "No answer-file templates (provision.templates).")));
    await this.poll();
  }

  async poll() {
    if (!token()) return;
    const query = this.lastBoot === null ? "?limit=50" : `?since=${this.lastBoot}`;
    const boots = await request("GET", `/boots${query}`, { admin: true });
    if (!boots.boots.length) return;
    this.lastBoot = Math.max(this.lastBoot ?? 0, ...boots.boots.map((boot) => boot.id));
    const rows = boots.boots.map((boot) => element("tr", { dataset: { id: boot.id } },
      element("td", {}, localTime(boot.time)),
      element("td", { className: "mono" }, boot.mac || ""),
      element("td", {}, boot.kind),
      element("td", { className: "mono" }, boot.entry_id || ""),
      element("td", { className: "number" }, boot.status),
      element("td", {}, boot.outcome || "")));
    this.bootRows.prepend(...rows);
    while (this.bootRows.rows.length > KEPT_BOOTS) this.bootRows.lastElementChild.remove();
  }

  clear() {
    this.lastBoot = null;
    replaceChildren(this.hostRows);
    replaceChildren(this.bootRows);
    replaceChildren(this.answerRows);
  }
}

export class AuditView {
  constructor(ui) {
    this.ui = ui;
    this.rows = document.getElementById("audit-rows");
  }

  async load() {
    if (!token()) { replaceChildren(this.rows); return; }
    const audit = await request("GET", "/audit?limit=200", { admin: true });
    replaceChildren(this.rows, audit.records.map((record) => element("tr", {},
      element("td", {}, localTime(record.time)),
      element("td", {}, record.actor),
      element("td", { className: "mono" }, record.entry_id || ""),
      element("td", {}, record.field),
      element("td", {}, record.old ?? ""),
      element("td", {}, record.new ?? ""))));
  }
}
