// The catalog: every container with its picture, metadata, boot state and menu switch. It is
// fetched in pages of the listing and filtered here; only one page of rows is in the DOM, so
// 10,000 entries stay quick. A poll asks only whether the catalog changed (the listing's ETag:
// a 304 while it has not), and fetches it again when it did.
import { request, requestIfChanged, token } from "./api.js";
import { element, replaceChildren, byteSize } from "./dom.js";

const PAGE_SIZE = 100;
// Entries per request when the catalog is fetched: a 10,000-entry catalog in ten requests.
const FETCH_PAGE = 1000;

export class CatalogView {
  constructor(ui) {
    this.ui = ui;
    this.containers = [];
    this.page = 0;
    this.rows = document.getElementById("catalog-rows");
    this.search = document.getElementById("search");
    this.filter = document.getElementById("filter");
    this.search.addEventListener("input", () => { this.page = 0; this.render(); });
    this.filter.addEventListener("change", () => { this.page = 0; this.render(); });
    document.getElementById("previous-page").addEventListener("click", () => { this.page -= 1; this.render(); });
    document.getElementById("next-page").addEventListener("click", () => { this.page += 1; this.render(); });
    document.getElementById("refresh").addEventListener("click", () => this.refreshCatalog());
  }

  async load() {
    this.containers = await this.fetchAll();
    this.render();
  }

  // Every entry, a page at a time; each page must carry the same ETag (one catalog state),
  // else the catalog changed while it was read and the reading starts over.
  async fetchAll() {
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const containers = [];
      let etag = null;
      let consistent = true;
      for (let offset = 0; ; offset += FETCH_PAGE) {
        const page = await requestIfChanged(`/containers?limit=${FETCH_PAGE}&offset=${offset}`, null);
        if (etag !== null && page.etag !== etag) { consistent = false; break; }
        etag = page.etag;
        containers.push(...page.data.containers);
        if (offset + page.data.count >= page.data.total) break;
      }
      if (consistent) {
        this.etag = etag;
        return containers;
      }
    }
    throw new Error("The catalog kept changing while it was read; it is read again at the next poll.");
  }

  // Whether the catalog changed since it was fetched: one small conditional request.
  async poll() {
    const answer = await requestIfChanged("/containers?limit=1", this.etag);
    if (answer.changed) await this.load();
  }

  matching() {
    const words = this.search.value.toLowerCase().split(/\s+/).filter(Boolean);
    const show = this.filter.value;
    return this.containers.filter((entry) => {
      if (show === "enabled" && !entry.pxe_enabled) return false;
      if (show === "disabled" && entry.pxe_enabled) return false;
      if (show === "bootable" && !entry.boot.ready) return false;
      if (show === "problems" && !problemsOf(entry).length) return false;
      if (!words.length) return true;
      const haystack = [entry.name, entry.filename, entry.distro, entry.kernel_version, entry.architecture,
        entry.visual_description, ...(entry.detected_objects || [])].filter(Boolean).join(" ").toLowerCase();
      return words.every((word) => haystack.includes(word));
    });
  }

  render() {
    const entries = this.matching();
    const pages = Math.max(1, Math.ceil(entries.length / PAGE_SIZE));
    this.page = Math.min(Math.max(this.page, 0), pages - 1);
    const shown = entries.slice(this.page * PAGE_SIZE, (this.page + 1) * PAGE_SIZE);
    replaceChildren(this.rows, shown.map((entry) => this.row(entry)));
    document.getElementById("catalog-count").textContent =
      `${entries.length} of ${this.containers.length} container${this.containers.length === 1 ? "" : "s"}`;
    document.getElementById("page-label").textContent = `Page ${this.page + 1} of ${pages}`;
    document.getElementById("previous-page").disabled = this.page === 0;
    document.getElementById("next-page").disabled = this.page >= pages - 1;
  }

  row(entry) {
    const picture = entry.thumbnail
      ? element("img", { src: entry.thumbnail, alt: "", width: 64, height: 64, loading: "lazy", className: "thumbnail" })
      : element("span", { className: "no-thumbnail", title: "No picture yet" }, "—");
    const boot = entry.boot;
    const bootText = boot.ready ? boot.kind : boot.state === "ready" ? "nothing" : boot.state.replace("_", " ");
    const verified = boot.verified === true ? "yes" : boot.verified === false ? "no" : "not yet";
    const problems = problemsOf(entry);
    const analysis = [entry.visual_description, (entry.detected_objects || []).join(", ")].filter(Boolean);
    const toggle = element("input", {
      type: "checkbox", role: "switch", checked: entry.pxe_enabled, disabled: !token(),
      "aria-label": `Boot menu: ${entry.name}`, title: token() ? "In the boot menu" : "Sign in to change",
      onchange: (event) => this.toggle(entry, event.target),
    });
    return element("tr", { dataset: { id: entry.id }, className: problems.length ? "has-problems" : "" },
      element("td", {}, picture),
      element("td", {}, element("div", { className: "name" }, entry.name), element("div", { className: "file" }, entry.filename),
        entry.description ? element("div", { className: "description" }, entry.description) : null),
      element("td", {}, entry.distro || ""),
      element("td", {}, entry.kernel_version || ""),
      element("td", {}, entry.architecture || ""),
      element("td", { className: "number" }, byteSize(entry.size)),
      element("td", { className: `boot boot-${boot.ready ? "ready" : boot.state}` }, bootText, secureBootNote(boot)),
      element("td", {}, verified),
      element("td", { className: "problems" }, problems.map((text) => element("div", {}, text))),
      element("td", { className: "analysis" }, analysis.map((text) => element("div", {}, text))),
      element("td", {}, element("label", { className: "switch" }, toggle)));
  }

  async toggle(entry, checkbox) {
    const wanted = checkbox.checked;
    checkbox.disabled = true;
    try {
      const result = await request("POST", `/pxe/${entry.id}/toggle`, { body: { enabled: wanted } });
      entry.pxe_enabled = result.pxe_enabled;
      entry.revision = result.revision;
      this.ui.notice(`${entry.name} is ${result.pxe_enabled ? "in" : "out of"} the boot menu.`);
      this.ui.changed();
    } catch (error) {
      checkbox.checked = !wanted;
      this.ui.error(error);
    } finally {
      checkbox.disabled = !token();
    }
  }

  async refreshCatalog() {
    const button = document.getElementById("refresh");
    button.disabled = true;
    try {
      const result = await request("POST", "/catalog/refresh");
      this.ui.notice(result.message);
      await this.load();
      this.ui.changed();
    } catch (error) {
      this.ui.error(error);
    } finally {
      button.disabled = false;
    }
  }
}

function problemsOf(entry) {
  return [entry.problem, entry.boot.problem, ...(entry.warnings || [])].filter(Boolean);
}

// What a Secure Boot machine will make of the kernel: the signature the file carries (whether
// the machine trusts its signer is the firmware's and shim's decision, not the server's).
function secureBootNote(boot) {
  if (boot.secure_boot === "signed") {
    return element("div", { className: "secure-boot", title: "The kernel carries an Authenticode signature" },
      `signed${boot.secure_boot_signer ? ` by ${boot.secure_boot_signer}` : ""}`);
  }
  if (boot.secure_boot === "unsigned") {
    return element("div", { className: "secure-boot unsigned", title: "Secure Boot machines refuse this kernel" },
      "unsigned: needs Secure Boot off");
  }
  return null;
}
