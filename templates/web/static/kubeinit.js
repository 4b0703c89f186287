// The configurator: the form's non-default options go to the service, which answers with the
// script (and its canonical query and sha256 in headers) or with its own validation messages.
// Nothing is validated or normalised here, so the page cannot disagree with the API.
"use strict";

(() => {
  const main = document.getElementById("configurator");
  const form = document.getElementById("options");
  const byId = (id) => document.getElementById(id);
  const base = main.dataset.baseUrl;
  const script = main.dataset.script;
  const file = script.slice(script.lastIndexOf("/") + 1) + ".sh";
  const queryHeader = main.dataset.queryHeader;
  const signed = main.dataset.signed === "1";  // the service signs its scripts: verify the signature first
  const controls = Array.from(form.querySelectorAll("[data-default]"));
  const copyButtons = Array.from(document.querySelectorAll("button.copy"));
  const problems = byId("problems");
  const status = byId("status");
  const preview = byId("preview");
  const previewMeta = byId("preview-meta");
  const staleNote = byId("stale");

  const valueOf = (el) => (el.type === "checkbox" ? (el.checked ? "1" : "0") : el.value.trim());
  const encode = (pairs) => pairs.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join("&");
  const withQuery = (path, query) => base + path + (query ? `?${query}` : "");

  // One shell word, like Python's shlex.quote.
  const shQuote = (s) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`);

  function commands(query) {
    const url = withQuery(script, query);
    const flags = Array.from(new URLSearchParams(query), ([k, v]) => shQuote(`${k.replace(/_/g, "-")}=${v}`));
    return {
      pipe: `curl -sSL ${shQuote(url)} | sudo bash`,
      flags: `curl -sSL ${shQuote(base + script)} | sudo bash -s${flags.map((f) => ` ${f}`).join("")}`,
      verify: signed
        ? `curl -fsSL -o ${file} ${shQuote(url)} &&\n` +
          `  curl -fsSL -o ${file}.sig ${shQuote(withQuery(`${script}.sig`, query))} &&\n` +
          `  ssh-keygen -Y verify -f allowed_signers -I kubeinit -n kubeinit -s ${file}.sig <${file} &&\n` +
          `  bash ${file} check-query=${shQuote(query)} &&\n` +
          `  sudo bash ${file}`
        : `curl -fsSL -o ${file} ${shQuote(url)} &&\n` +
          `  curl -fsSL ${shQuote(withQuery(`${script}.sha256`, query))} | sha256sum -c - &&\n` +
          `  sudo bash ${file}`,
    };
  }

  function setUsable(usable) {
    main.classList.toggle("stale", !usable);
    staleNote.hidden = usable;
    previewMeta.hidden = !usable;
    copyButtons.forEach((b) => { b.disabled = !usable; });
  }

  function clearProblems() {
    problems.hidden = true;
    problems.replaceChildren();
    form.querySelectorAll(".field").forEach((field) => {
      field.classList.remove("invalid");
      byId(`err-${field.dataset.option}`).textContent = "";
      byId(`opt-${field.dataset.option}`).removeAttribute("aria-invalid");
    });
  }

  function showScript(query, body, etag) {
    clearProblems();
    for (const [id, text] of Object.entries(commands(query))) byId(`cmd-${id}`).textContent = text;
    const link = byId("script-url");
    link.href = script + (query ? `?${query}` : "");
    byId("script-url-text").textContent = withQuery(script, query);
    preview.textContent = body;
    preview.setAttribute("aria-busy", "false");
    const lines = body.split("\n").length - 1;
    byId("preview-size").textContent = `${lines} lines, ${new TextEncoder().encode(body).length} bytes`;
    byId("preview-sha256").textContent = (etag || "").replace(/^W\//, "").replace(/"/g, "");
    history.replaceState(null, "", query ? `?${query}` : location.pathname);
    setUsable(true);
  }

  function showProblems(detail) {
    clearProblems();
    const heading = document.createElement("strong");
    heading.textContent = detail.length === 1 ? "Fix this option to get a command:" : `Fix these ${detail.length} options to get a command:`;
    const list = document.createElement("ul");
    for (const { option, message } of detail) {
      const item = document.createElement("li");
      const error = byId(`err-${option}`);
      if (error) {  // an option of the form: mark it, and link to it from the summary
        error.textContent = message;
        error.closest(".field").classList.add("invalid");
        const folded = error.closest("details");
        if (folded) folded.open = true;  // an advanced option: unfold it to show what is wrong
        byId(`opt-${option}`).setAttribute("aria-invalid", "true");
        const link = document.createElement("a");
        link.href = `#opt-${option}`;
        link.textContent = option;
        item.append(link, `: ${message}`);
      } else {
        item.textContent = `${option}: ${message}`;
      }
      list.append(item);
    }
    problems.replaceChildren(heading, list);
    problems.hidden = false;
    preview.textContent = "The service rejected these options: fix them above to see the script.";
    setUsable(false);
  }

  function showFailure(message) {
    status.textContent = message;
    setUsable(false);
  }

  let sequence = 0;
  let inFlight = null;

  async function update() {
    const mine = ++sequence;
    if (inFlight) inFlight.abort();
    inFlight = new AbortController();
    const pairs = controls.filter((el) => valueOf(el) !== el.dataset.default).map((el) => [el.name, valueOf(el)]);
    const query = encode(pairs);
    preview.setAttribute("aria-busy", "true");
    try {
      const response = await fetch(script + (query ? `?${query}` : ""), {
        headers: { Accept: "application/json" },
        signal: inFlight.signal,
      });
      const isJson = (response.headers.get("Content-Type") || "").startsWith("application/json");
      const payload = isJson ? await response.json() : await response.text();
      if (mine !== sequence) return;
      if (response.ok) {
        status.textContent = "";
        showScript(response.headers.get(queryHeader) ?? query, payload, response.headers.get("ETag"));
      } else if (isJson && Array.isArray(payload.detail)) {
        showProblems(payload.detail);
      } else {
        showFailure(`The service answered HTTP ${response.status}; try again later.`);
      }
    } catch (error) {
      if (error.name !== "AbortError" && mine === sequence) showFailure(`The service did not answer: ${error.message}`);
    }
  }

  let timer = 0;
  const soon = () => { clearTimeout(timer); timer = setTimeout(update, 250); };
  const now = () => { clearTimeout(timer); update(); };

  form.addEventListener("input", (event) => (event.target.type === "text" ? soon() : now()));
  form.addEventListener("change", (event) => { if (event.target.type === "text") now(); });
  form.addEventListener("submit", (event) => { event.preventDefault(); now(); });
  form.addEventListener("reset", (event) => {
    event.preventDefault();
    for (const el of controls) {
      if (el.type === "checkbox") el.checked = el.dataset.default === "1";
      else el.value = el.dataset.default;
    }
    now();
  });

  // Clipboard API where the page is a secure context (https, localhost); else the old way.
  function copyByCommand(text) {
    const area = document.createElement("textarea");
    area.value = text;
    area.readOnly = true;
    area.className = "offscreen";
    document.body.append(area);
    area.select();
    const copied = document.execCommand("copy");
    area.remove();
    if (!copied) throw new Error("copy refused");
  }

  async function copy(button) {
    const code = byId(button.dataset.copy);
    const title = button.closest(".command").querySelector("h3").textContent;
    try {
      if (navigator.clipboard) await navigator.clipboard.writeText(code.textContent);
      else copyByCommand(code.textContent);
      button.focus();
      button.textContent = "Copied";
      status.textContent = `Copied: ${title}.`;
      setTimeout(() => { button.textContent = "Copy"; }, 2000);
    } catch {
      getSelection().selectAllChildren(code);
      status.textContent = "Could not reach the clipboard: the command is selected, press Ctrl+C (⌘C) to copy it.";
    }
  }

  copyButtons.forEach((button) => button.addEventListener("click", () => copy(button)));
  update();
})();
