// The console: sections switched by the URL's fragment, the admin token's sign-in, and one
// place where every API error is shown as the API's own sentence.
import { request, token, setToken } from "./api.js";
import { element } from "./dom.js";
import { CatalogView } from "./catalog.js";
import { MenuView } from "./menu.js";
import { PreviewView } from "./preview.js";
import { HostsView, AuditView } from "./hosts.js";

const SECTIONS = ["catalog", "menu", "preview", "hosts", "audit"];
const BOOT_POLL_MS = 2000;
const CATALOG_POLL_MS = 15000;

const ui = {
  error(error) {
    const text = error && error.message ? error.message : String(error);
    const close = element("button", { type: "button", className: "close", "aria-label": "Dismiss" }, "×");
    const message = element("div", { className: "message error" }, element("span", { className: "text" }, text), close);
    close.addEventListener("click", () => message.remove());
    document.getElementById("messages").prepend(message);
    while (document.getElementById("messages").children.length > 5) document.getElementById("messages").lastElementChild.remove();
  },
  notice(text) {
    const notice = element("div", { className: "message notice" }, text);
    document.getElementById("notices").replaceChildren(notice);
    setTimeout(() => notice.remove(), 6000);
  },
  // Something changed on the server: the other views are stale.
  changed() {
    for (const [name, view] of Object.entries(views)) if (name !== current) view.stale = true;
  },
};

const views = {
  catalog: new CatalogView(ui),
  menu: new MenuView(ui),
  preview: new PreviewView(ui),
  hosts: new HostsView(ui),
  audit: new AuditView(ui),
};
let current = "catalog";

async function show(name) {
  current = SECTIONS.includes(name) ? name : "catalog";
  for (const section of document.querySelectorAll("main > section")) section.hidden = section.dataset.section !== current;
  for (const link of document.querySelectorAll("nav a")) {
    if (link.dataset.section === current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  await load(current);
}

async function load(name) {
  try {
    await views[name].load();
    views[name].stale = false;
  } catch (error) {
    ui.error(error);
  }
}

function reflectSignIn() {
  const admin = Boolean(token());
  document.getElementById("sign-in").hidden = admin;
  document.getElementById("signed-in").hidden = !admin;
  document.body.classList.toggle("admin", admin);
}

// A token is kept only once the API accepts it: an admin read that changes nothing.
async function signIn(event) {
  event.preventDefault();
  const input = document.getElementById("token");
  const candidate = input.value.trim();
  if (!candidate) { ui.error(new Error("Enter the admin token to sign in.")); return; }
  setToken(candidate);
  try {
    await request("GET", "/audit?limit=1", { admin: true });
  } catch (error) {
    setToken("");
    ui.error(error);
    return;
  } finally {
    input.value = "";
  }
  reflectSignIn();
  document.getElementById("messages").replaceChildren();   // earlier refusals no longer apply
  ui.notice("Signed in.");
  await show(current);
}

function signOut() {
  setToken("");
  reflectSignIn();
  views.hosts.clear();
  ui.notice("Signed out.");
  show(current);
}

document.getElementById("sign-in").addEventListener("submit", signIn);
document.getElementById("sign-out").addEventListener("click", signOut);
window.addEventListener("hashchange", () => show(location.hash.slice(1)));
reflectSignIn();
show(location.hash.slice(1));

setInterval(() => {
  if (current === "hosts" && token() && !document.hidden) views.hosts.poll().catch((error) => ui.error(error));
}, BOOT_POLL_MS);
setInterval(() => {
  if (current === "catalog" && !document.hidden) views.catalog.poll().catch((error) => ui.error(error));
}, CATALOG_POLL_MS);
document.addEventListener("visibilitychange", () => {
  if (!document.hidden && views[current].stale) load(current);
});
