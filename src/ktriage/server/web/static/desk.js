// The ktriage desk page. Plain JavaScript, no build step, nothing from another host.
// Patient data goes to this server in POST bodies only: never in a URL, never stored.
// Every text from the server or the user is put into the page with textContent.
"use strict";

(() => {
  const LB_TO_KG = 0.45359237;
  const GLUCOSE_MMOL_TO_MG = 18.016; // glucose: 1 mmol/L = 18.016 mg/dL
  const READ_DELAY_MS = 250;
  const LEVEL_NAMES = {
    self_care: "Self care",
    next_visit: "Next visit",
    within_24h: "Within 24 hours",
    urgent: "Urgent",
    emergency: "Emergency",
  };

  let config = null;
  let rowSerial = 0;
  let lastResult = null;
  const flagged = new Map(); // why the emergency banner shows: key -> {label, name}
  let emergencySerial = 0;

  const byId = (id) => document.getElementById(id);

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  async function api(path, body) {
    const init =
      body === undefined
        ? { headers: { accept: "application/json" } }
        : {
            method: "POST",
            headers: { "content-type": "application/json", accept: "application/json" },
            body: JSON.stringify(body),
          };
    init.credentials = "same-origin";
    init.cache = "no-store";
    const response = await fetch(path, init);
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = null;
    }
    return { status: response.status, data };
  }

  function fmt(value) {
    return String(Math.round(value * 10) / 10);
  }

  // -- red flags ---------------------------------------------------------------------------

  function renderRedFlags() {
    const box = byId("red-flags");
    box.replaceChildren();
    for (const flag of config.red_flags) {
      const name = "rf-" + flag.code;
      const legendId = name + "-q";
      const set = el("fieldset", { class: "rf", "data-code": flag.code });
      const legend = el("legend", { id: legendId }, flag.question);
      if (flag.examples.length) {
        legend.append(el("span", { class: "eg" }, " For example: " + flag.examples.join(", ")));
      }
      set.append(legend);
      const choices = el("div", { class: "choices" });
      for (const [value, text] of [
        ["no", "No"],
        ["yes", "Yes"],
      ]) {
        const input = el("input", { type: "radio", name, value, id: name + "-" + value });
        input.addEventListener("change", () => onRedFlag(flag, value === "yes"));
        choices.append(el("label", { class: "choice", for: name + "-" + value }, input, " " + text));
      }
      set.append(choices);
      box.append(set);
    }
  }

  function onRedFlag(flag, yes) {
    const set = document.querySelector(`fieldset[data-code="${flag.code}"]`);
    set.classList.toggle("is-yes", yes);
    set.classList.remove("missing");
    const key = "checklist:" + flag.code;
    if (yes) flagged.set(key, { label: flag.label, name: flag.label });
    else flagged.delete(key);
    updateEmergency();
  }

  function unansweredRedFlags() {
    return config.red_flags.filter(
      (flag) => !document.querySelector(`input[name="rf-${flag.code}"]:checked`),
    );
  }

  // -- the emergency banner ----------------------------------------------------------------

  async function updateEmergency() {
    const alert = byId("alert");
    if (flagged.size === 0) {
      alert.hidden = true;
      alert.replaceChildren();
      return;
    }
    const labels = [...new Set([...flagged.values()].map((f) => f.label))];
    const serial = ++emergencySerial;
    alert.hidden = false;
    alert.replaceChildren(
      el("p", { class: "alert-title" }, "EMERGENCY: " + labels.join("; ")),
      el("p", {}, "Getting the instruction…"),
    );
    const symptoms = [...flagged.values()].map((f) => ({ name: f.name }));
    const { status, data } = await api("/v1/triage", { symptoms });
    if (serial !== emergencySerial) return; // a newer answer is on its way
    const top = status === 200 && data.advice.find((a) => a.superseded_by === null);
    alert.replaceChildren(
      el("p", { class: "alert-title" }, "EMERGENCY: " + labels.join("; ")),
      el("p", { class: "alert-label" }, status === 200 ? data.label : "Call emergency services now."),
      top ? el("p", {}, el("strong", {}, "Staff: "), top.action) : null,
      top ? el("p", {}, el("strong", {}, "Tell the caller: "), top.guidance) : null,
    );
    if (status === 200) showAnswer(data);
  }

  // -- symptoms ----------------------------------------------------------------------------

  function addSymptomRow(focus) {
    const serial = ++rowSerial;
    const row = byId("symptom-row").content.firstElementChild.cloneNode(true);
    const id = "sym-" + serial;
    row.dataset.key = id;
    const input = row.querySelector(".sym-text");
    input.id = id;
    input.setAttribute("aria-describedby", id + "-reading");
    row.querySelector(".sym-label").setAttribute("for", id);
    row.querySelector(".reading").id = id + "-reading";
    const dur = row.querySelector(".dur-value");
    dur.id = id + "-days";
    dur.setAttribute("aria-describedby", id + "-days-msg");
    row.querySelector(".dur-label").setAttribute("for", dur.id);
    row.querySelector(".dur-msg").id = id + "-days-msg";
    const unit = row.querySelector(".dur-unit");
    unit.setAttribute("aria-label", "Unit of how long");
    row.querySelector(".remove").addEventListener("click", () => removeRow(row));
    row.querySelector(".severity").dataset.name = id + "-sev";
    renderSeverity(row, null);
    let timer = null;
    let asked = 0;
    input.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(async () => {
        const text = input.value;
        const mine = ++asked;
        if (!text.trim()) {
          showReading(row, null);
          return;
        }
        const { status, data } = await api("/v1/read", { text });
        if (mine !== asked) return; // the user typed on; a newer reading is coming
        showReading(row, status === 200 ? data : { error: data });
      }, READ_DELAY_MS);
    });
    dur.addEventListener("input", () => checkDuration(row));
    unit.addEventListener("change", () => checkDuration(row));
    byId("symptoms").append(row);
    numberRows();
    if (focus) input.focus();
    return row;
  }

  function numberRows() {
    const rows = [...document.querySelectorAll("#symptoms .symptom")];
    rows.forEach((row, i) => {
      row.querySelector(".sym-label").textContent = `Symptom ${i + 1}, in the caller's words`;
      row.querySelector(".severity legend").textContent = `How bad is symptom ${i + 1}?`;
      row.querySelector(".dur-label").textContent = `For how long (symptom ${i + 1})?`;
      row.querySelector(".dur-unit").setAttribute("aria-label", `Unit of how long (symptom ${i + 1})`);
      row.querySelector(".remove").textContent = `Remove symptom ${i + 1}`;
      row.querySelector(".remove").hidden = rows.length === 1;
    });
  }

  function removeRow(row) {
    const next = row.nextElementSibling || row.previousElementSibling;
    flagged.delete("row:" + row.dataset.key);
    row.remove();
    numberRows();
    updateEmergency();
    if (next) next.querySelector(".sym-text").focus();
  }

  function severityWords(code) {
    return (code && config.severity.by_code[code]) || config.severity.any;
  }

  function renderSeverity(row, code) {
    const box = row.querySelector(".severity .choices");
    const name = row.querySelector(".severity").dataset.name;
    const checked = box.querySelector("input:checked");
    const keep = checked ? checked.value : null;
    const words = severityWords(code);
    box.replaceChildren();
    for (const level of config.severity.levels) {
      const id = `${name}-${level}`;
      const input = el("input", { type: "radio", name, value: level, id });
      if (keep === level) input.checked = true;
      box.append(
        el("label", { class: "choice", for: id }, input, el("span", {}, el("strong", {}, level), " – " + words[level])),
      );
    }
  }

  function suggestionsFor(word) {
    const w = word.toLowerCase();
    const found = [];
    for (const symptom of config.symptoms) {
      if (config.red_flag_codes.includes(symptom.code)) continue;
      let best = Infinity;
      for (const phrase of symptom.words) {
        for (const part of phrase.toLowerCase().split(/\s+/)) {
          if (part.length < 3) continue;
          const d = part.startsWith(w) || w.startsWith(part) ? 0 : distance(w, part);
          best = Math.min(best, d);
        }
      }
      if (best <= (w.length > 5 ? 2 : 1)) found.push([best, symptom.label]);
    }
    found.sort((a, b) => a[0] - b[0]);
    return found.slice(0, 3).map((f) => f[1]);
  }

  function distance(a, b) {
    if (Math.abs(a.length - b.length) > 2) return 3;
    let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      const cur = [i];
      for (let j = 1; j <= b.length; j++) {
        cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      }
      prev = cur;
    }
    return prev[b.length];
  }

  function showReading(row, reading) {
    const box = row.querySelector(".reading");
    const key = "row:" + row.dataset.key;
    box.replaceChildren();
    row.reading = reading && !reading.error ? reading : null;
    flagged.delete(key);
    if (reading === null) {
      renderSeverity(row, null);
      updateEmergency();
      return;
    }
    if (reading.error) {
      const items = (reading.error && reading.error.errors) || [];
      box.append(el("p", { class: "problem" }, items.length ? items[0].message : "could not read this text"));
      updateEmergency();
      return;
    }
    const list = el("ul", { class: "read-list" });
    for (const s of reading.symptoms) {
      const isFlag = config.red_flag_codes.includes(s.code);
      const item = el("li", { class: isFlag ? "read red" : "read" }, el("span", { class: "tag" }, isFlag ? "Red flag" : "Read"), " ", el("strong", {}, s.label));
      if (s.severe) item.append(" (severe: the words say so)");
      if (s.context) item.append(` (${s.context})`);
      if (s.corrections.length) item.append(el("span", { class: "correction" }, " " + s.corrections.join("; ")));
      list.append(item);
      if (isFlag) flagged.set(key, { label: s.label, name: reading.text });
    }
    for (const a of reading.absent) {
      list.append(el("li", { class: "read absent" }, el("span", { class: "tag" }, "Not present"), ` ${a.label} (“${a.cue}”)`));
    }
    for (const text of valuesText(reading)) {
      list.append(el("li", { class: "read" }, el("span", { class: "tag" }, "Measurement"), " " + text));
    }
    if (reading.possible_red_flag) {
      list.append(
        el("li", { class: "read red" }, el("span", { class: "tag" }, "Possible red flag"), ` “${reading.possible_red_flag}”: confirm with the caller now`),
      );
      if (!flagged.has(key)) flagged.set(key, { label: "Possible red flag (needs confirming)", name: reading.text });
    }
    if (reading.unrecognized.length) {
      const words = reading.unrecognized.join(" ");
      const item = el("li", { class: "read unknown" }, el("span", { class: "tag" }, "Not read"), ` “${words}”: a clinician will read it.`);
      const ideas = [...new Set(reading.unrecognized.flatMap(suggestionsFor))].slice(0, 3);
      if (ideas.length) item.append(" Could it be: " + ideas.join(", ") + "?");
      list.append(item);
    }
    if (!list.children.length) list.append(el("li", { class: "read unknown" }, "Nothing read yet."));
    box.append(list);
    renderSeverity(row, reading.symptoms.length ? reading.symptoms[0].code : null);
    updateEmergency();
  }

  function durationDays(row) {
    const input = row.querySelector(".dur-value");
    const text = input.value.trim();
    if (!text) return { value: null };
    const n = Number(text.replace(",", "."));
    if (!Number.isFinite(n)) return { error: `must be a number, got '${text}'` };
    const unit = row.querySelector(".dur-unit").value;
    const days = unit === "hours" ? n / 24 : unit === "weeks" ? n * 7 : n;
    const f = config.measurements.days;
    if (days < f.low || days > f.high) return { error: `must be between ${f.low} and ${f.high} days (got ${fmt(days)})` };
    return { value: days };
  }

  function checkDuration(row) {
    const out = durationDays(row);
    setMessage(row.querySelector(".dur-value"), row.querySelector(".dur-msg"), out.error || "", !!out.error);
    return out;
  }

  // -- measurements ------------------------------------------------------------------------

  const MEASURES = [
    { id: "weight", field: "weight_kg", unit: "weight-unit" },
    { id: "baseline", field: "baseline_weight_kg", unit: "baseline-unit" },
    { id: "systolic", field: "systolic_bp" },
    { id: "diastolic", field: "diastolic_bp" },
    { id: "heart-rate", field: "heart_rate" },
    { id: "spo2", field: "oxygen_saturation_pct" },
    { id: "temperature", field: "temperature_c" },
    { id: "resp-rate", field: "respiratory_rate" },
    { id: "glucose", field: "fasting_glucose_mg_dl", unit: "glucose-unit" },
    { id: "hours", field: "hours_since_dose", section: "treatment" },
    { id: "age", field: "age_years", section: "top" },
  ];

  function setMessage(input, msg, text, bad, extra) {
    msg.replaceChildren();
    if (text) msg.append(text);
    if (extra) msg.append(" ", extra);
    msg.classList.toggle("bad", !!bad);
    if (bad) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  }

  function toCanonical(m, n) {
    const unit = m.unit ? byId(m.unit).value : null;
    if (unit === "lb") return n * LB_TO_KG;
    if (unit === "mmol/L") return n * GLUCOSE_MMOL_TO_MG;
    return n;
  }

  // A value out of range in the unit given but plausible in the other one: say so.
  function otherUnitHint(m, n, f) {
    if (m.field === "fasting_glucose_mg_dl") {
      const unit = byId(m.unit).value;
      if (unit === "mg/dL" && n * GLUCOSE_MMOL_TO_MG >= f.low && n * GLUCOSE_MMOL_TO_MG <= f.high) {
        return { text: `Was it ${fmt(n)} mmol/L? That is ${fmt(n * GLUCOSE_MMOL_TO_MG)} mg/dL.`, unit: "mmol/L" };
      }
      if (unit === "mmol/L" && n >= f.low && n <= f.high) {
        return { text: `Was it ${fmt(n)} mg/dL?`, unit: "mg/dL" };
      }
    }
    if (m.unit && (m.field === "weight_kg" || m.field === "baseline_weight_kg")) {
      const unit = byId(m.unit).value;
      if (unit === "kg" && n * LB_TO_KG >= f.low && n * LB_TO_KG <= f.high) {
        return { text: `Was it ${fmt(n)} lb? That is ${fmt(n * LB_TO_KG)} kg.`, unit: "lb" };
      }
    }
    return null;
  }

  function checkMeasure(m) {
    const input = byId(m.id);
    const msg = byId(m.id + "-msg");
    const text = input.value.trim();
    const f = config.measurements[m.field];
    if (!text) {
      setMessage(input, msg, "", false);
      return { value: null };
    }
    const n = Number(text.replace(",", "."));
    if (!Number.isFinite(n)) {
      const error = `must be a number, got '${text}'`;
      setMessage(input, msg, error, true);
      return { error };
    }
    const value = toCanonical(m, n);
    const shownUnit = m.unit ? byId(m.unit).value : f.unit;
    if (value < f.low || value > f.high) {
      const given = m.unit && shownUnit !== f.unit ? ` (${fmt(n)} ${shownUnit} = ${fmt(value)} ${f.unit})` : ` (got ${fmt(n)} ${shownUnit})`;
      const error = `must be between ${f.low} and ${f.high} ${f.unit}${given}.`;
      const hint = otherUnitHint(m, n, f);
      let button = null;
      if (hint) {
        button = el("button", { type: "button", class: "link" }, `Use ${hint.unit}`);
        button.addEventListener("click", () => {
          byId(m.unit).value = hint.unit;
          checkMeasure(m);
          input.focus();
        });
      }
      setMessage(input, msg, error + (hint ? " " + hint.text : ""), true, button);
      return { error };
    }
    if (m.unit && shownUnit !== f.unit) setMessage(input, msg, `= ${fmt(value)} ${f.unit}`, false);
    else setMessage(input, msg, "", false);
    return { value: m.unit ? Math.round(value * 100) / 100 : value };
  }

  function checkBloodPressure(values) {
    const s = values.systolic_bp;
    const d = values.diastolic_bp;
    if (s != null && d != null && d >= s) {
      const error = `the diastolic (${fmt(d)}) must be lower than the systolic (${fmt(s)}); were they swapped?`;
      setMessage(byId("diastolic"), byId("diastolic-msg"), error, true);
      return error;
    }
    return null;
  }

  // -- the report and the answer -----------------------------------------------------------

  function buildReport() {
    const problems = [];
    const report = {};
    const measurements = {};
    const treatment = {};
    for (const m of MEASURES) {
      const out = checkMeasure(m);
      if (out.error) problems.push(byId(m.id));
      else if (out.value !== null) {
        if (m.section === "treatment") treatment[m.field] = out.value;
        else if (m.section === "top") report[m.field] = out.value;
        else measurements[m.field] = out.value;
      }
    }
    if (checkBloodPressure(measurements)) problems.push(byId("diastolic"));
    const symptoms = [];
    for (const row of document.querySelectorAll("#symptoms .symptom")) {
      const name = row.querySelector(".sym-text").value.trim();
      const dur = checkDuration(row);
      if (dur.error) problems.push(row.querySelector(".dur-value"));
      if (!name) continue;
      const symptom = { name };
      const sev = row.querySelector(".severity input:checked");
      if (sev) symptom.severity = sev.value;
      if (dur.value !== null && dur.value !== undefined) symptom.days = dur.value;
      symptoms.push(symptom);
    }
    if (symptoms.length) report.symptoms = symptoms;
    if (Object.keys(measurements).length) report.measurements = measurements;
    const route = byId("route").value;
    if (route) treatment.route = route;
    if (Object.keys(treatment).length) report.treatment = treatment;
    const pid = byId("patient-id").value.trim();
    const pidProblem = patientIdProblem(pid);
    if (pidProblem) {
      setMessage(byId("patient-id"), byId("patient-id-msg"), pidProblem, true);
      problems.push(byId("patient-id"));
    } else if (pid) report.patient_id = pid;
    return { report, problems };
  }

  async function onSubmit(event) {
    event.preventDefault();
    const formProblem = byId("form-problem");
    formProblem.hidden = true;
    const missing = unansweredRedFlags();
    const rfProblem = byId("rf-problem");
    for (const set of document.querySelectorAll("fieldset.rf")) set.classList.remove("missing");
    if (missing.length) {
      for (const flag of missing) {
        document.querySelector(`fieldset[data-code="${flag.code}"]`).classList.add("missing");
      }
      rfProblem.textContent = `Answer every red-flag question first: ${missing.length} not answered.`;
      rfProblem.hidden = false;
      document.querySelector(`input[name="rf-${missing[0].code}"]`).focus();
      return;
    }
    rfProblem.hidden = true;
    const { report, problems } = buildReport();
    if (problems.length) {
      formProblem.textContent = "Correct the fields marked in red first.";
      formProblem.hidden = false;
      problems[0].focus();
      return;
    }
    const checklist = config.red_flags.filter((f) => flagged.has("checklist:" + f.code));
    if (checklist.length) {
      report.symptoms = [...(report.symptoms || []), ...checklist.map((f) => ({ name: f.label }))];
    }
    // with a patient id and a store, Triage records the call as a check-in (the page says
    // so beside the id and on the button); the same report is not recorded twice
    const pid = report.patient_id;
    const key = pid ? JSON.stringify(report) : null;
    const record = willRecord() && key !== lastRecorded;
    const button = byId("triage");
    button.disabled = true;
    let answer;
    try {
      answer = await api(record ? checkInPath(pid) : "/v1/triage", report);
    } finally {
      button.disabled = false;
    }
    const { status, data } = answer;
    if (status === 200) {
      showAnswer(data);
      if (record) lastRecorded = key;
      if (willRecord()) {
        const note = record
          ? "Recorded as a check-in of this patient."
          : "Not recorded again: this same check-in is already in the patient's history.";
        byId("answer-body").append(el("p", { class: "recorded", id: "recorded" }, note));
      }
      byId("answer-heading").focus();
      loadHistory(pid, willRecord()); // recorded now, or the same call recorded before
    } else {
      showErrors(data);
    }
  }

  function showErrors(data) {
    const items = (data && data.errors) || [{ field: "", message: "the service did not answer" }];
    const general = [];
    let first = null;
    for (const e of items) {
      const parts = e.field.split(".");
      let input = null;
      let msg = null;
      const field = parts[parts.length - 1];
      if (parts[0] === "symptoms" && parts.length >= 2) {
        const row = document.querySelectorAll("#symptoms .symptom")[Number(parts[1])];
        if (row) {
          input = row.querySelector(".sym-text");
          msg = row.querySelector(".reading");
        }
      } else {
        const box = document.querySelector(`[data-field="${field}"]`);
        if (box) {
          input = box.querySelector("input");
          msg = box.querySelector(".msg");
        }
      }
      if (input && msg) {
        setMessage(input, msg, e.message, true);
        first = first || input;
      } else {
        general.push((e.field ? e.field + ": " : "") + e.message);
      }
    }
    const formProblem = byId("form-problem");
    formProblem.textContent = general.length ? general.join(" ") : "Correct the fields marked in red.";
    formProblem.hidden = false;
    if (first) first.focus();
  }

  function sourceList(sources) {
    const list = el("ul", { class: "sources" });
    for (const s of sources) {
      list.append(el("li", {}, s.url ? el("a", { href: s.url, rel: "noreferrer noopener", target: "_blank" }, s.title) : s.title));
    }
    return list;
  }

  function adviceCard(a) {
    const card = el("article", { class: `advice level-edge-${a.escalation}` });
    card.append(el("h3", {}, a.title, el("span", { class: "lvl" }, " · " + LEVEL_NAMES[a.escalation])));
    if (a.superseded_by) card.append(el("p", { class: "hint" }, `Covered by ${a.superseded_by}.`));
    card.append(el("p", {}, el("strong", {}, "Staff: "), a.action));
    card.append(el("p", {}, el("strong", {}, "Tell the caller: "), a.guidance));
    const why = el("details", { class: "why" }, el("summary", {}, "Why, and sources"));
    why.append(el("ul", {}, ...a.because.map((b) => el("li", {}, b))));
    why.append(sourceList(a.sources));
    card.append(why);
    return card;
  }

  function showAnswer(result) {
    lastResult = result;
    const body = byId("answer-body");
    body.replaceChildren();
    const banner = el(
      "div",
      { class: `level level-${result.escalation}`, id: "level-banner" },
      el("p", { class: "level-name" }, LEVEL_NAMES[result.escalation]),
      el("p", { class: "level-label" }, result.label),
      el("p", { class: "level-summary" }, result.summary),
    );
    body.append(banner);
    const top = result.advice.filter((a) => a.superseded_by === null && a.escalation === result.escalation);
    const rest = result.advice.filter((a) => !top.includes(a));
    for (const a of top) body.append(adviceCard(a));
    if (result.unrecognized.length) {
      body.append(
        el("p", { class: "unread" }, el("strong", {}, "Not recognised (a clinician reads these): "), result.unrecognized.map((u) => `“${u}”`).join(", ")),
      );
    }
    if (result.skipped.length) {
      body.append(
        el("p", { class: "unread" }, el("strong", {}, "Not used: "), result.skipped.map((k) => `${k.what} (${k.why})`).join("; ")),
      );
    }
    if (rest.length) {
      const more = el("details", { class: "more" }, el("summary", {}, `Other advice (${rest.length})`));
      for (const a of rest) more.append(adviceCard(a));
      body.append(more);
    }
    if (result.readings.length) {
      const how = el("details", { class: "more" }, el("summary", {}, "How the words were read"));
      const list = el("ul", {});
      for (const r of result.readings) list.append(el("li", {}, `“${r.text}”: ${readingText(r)}`));
      how.append(list);
      body.append(how);
    }
    body.append(el("p", { class: "hint pack-line" }, `Rule pack ${result.rule_pack.name} ${result.rule_pack.version}. ktriage supports triage staff; it does not replace clinical judgement.`));
    byId("answer-tools").hidden = false;
    byId("copy-status").textContent = "";
  }

  // measurements typed in a text, one part per group of words (as the CLI shows them)
  function valuesText(reading) {
    const byWords = new Map();
    for (const v of reading.values || []) {
      if (!byWords.has(v.matched)) byWords.set(v.matched, []);
      byWords.get(v.matched).push(v);
    }
    const parts = [];
    for (const [words, values] of byWords) {
      const bp = values.length === 2 && values[0].field === "systolic_bp" && values[1].field === "diastolic_bp";
      const shown = bp
        ? `blood pressure ${values[0].value}/${values[1].value} mmHg`
        : values.map((v) => `${v.label} ${v.value} ${v.unit}`).join(", ");
      const notes = values.filter((v) => v.note).map((v) => `: ${v.note}`).join("");
      parts.push(`${shown} (“${words}”${notes})`);
    }
    return parts;
  }

  function readingText(r) {
    const parts = r.symptoms.map((s) => s.label.toLowerCase() + (s.corrections.length ? ` (${s.corrections.join("; ")})` : ""));
    for (const a of r.absent) parts.push(`no ${a.label.toLowerCase()} (“${a.cue}”)`);
    parts.push(...valuesText(r));
    if (r.possible_red_flag) parts.push(`possible red flag (“${r.possible_red_flag}”)`);
    if (r.unrecognized.length) parts.push(`not read: ${r.unrecognized.join(" ")}`);
    return parts.join("; ") || "nothing read";
  }

  function summaryText(result) {
    const lines = [
      `${LEVEL_NAMES[result.escalation].toUpperCase()}: ${result.label}`,
      result.summary,
    ];
    const shown = result.advice.filter((a) => a.superseded_by === null);
    for (const a of shown) lines.push(`- ${a.title} (${LEVEL_NAMES[a.escalation]}): ${a.action}`);
    for (const r of result.readings) lines.push(`Said: “${r.text}” – read as ${readingText(r)}`);
    if (result.unrecognized.length) lines.push(`Not recognised: ${result.unrecognized.join(", ")}`);
    for (const k of result.skipped) lines.push(`Not used: ${k.what} (${k.why})`);
    lines.push(`ktriage, rule pack ${result.rule_pack.name} ${result.rule_pack.version}`);
    return lines.join("\n");
  }

  async function copySummary() {
    if (!lastResult) return;
    const status = byId("copy-status");
    try {
      await navigator.clipboard.writeText(summaryText(lastResult));
      status.textContent = "Summary copied.";
    } catch (_) {
      status.textContent = "Could not copy: select the answer and copy it by hand.";
    }
  }

  // -- history (when the service keeps check-ins) ------------------------------------------

  const SVG_NS = "http://www.w3.org/2000/svg";
  let historySerial = 0;
  let lastRecorded = null; // the report last recorded, so a second click does not record it twice

  function svg(tag, attrs = {}, ...children) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (value === null || value === undefined) continue;
      if (name === "text") node.textContent = value;
      else node.setAttribute(name, String(value));
    }
    for (const child of children) if (child) node.append(child);
    return node;
  }

  // The id is in the path of same-origin API calls only (the API's shape), never in the
  // page's own URL. Ids the path cannot carry are refused here, beside the field.
  function patientIdProblem(pid) {
    if (!pid) return null;
    if (pid.length > 128) return `must be at most 128 characters (got ${pid.length})`;
    if (/[/\\]/.test(pid)) return "must not contain / or \\";
    if (pid === "." || pid === "..") return "must not be . or ..";
    return null;
  }

  function checkInPath(pid) {
    return `/v1/patients/${encodeURIComponent(pid)}/check-ins`;
  }

  function willRecord() {
    const pid = byId("patient-id").value.trim();
    return !!(config && config.history && pid && !patientIdProblem(pid));
  }

  function onPatientIdInput() {
    const input = byId("patient-id");
    const problem = patientIdProblem(input.value.trim());
    setMessage(input, byId("patient-id-msg"), problem || "", !!problem);
    byId("triage").textContent = willRecord() ? "Triage and record the check-in" : "Triage";
  }

  const pad = (n) => String(n).padStart(2, "0");

  function localDay(d) {
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  }

  function localTime(iso) {
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return iso;
    return `${localDay(d)} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }

  // 1, 2 or 5 times a power of ten: about `count` steps from lo to hi
  function niceStep(lo, hi, count) {
    const raw = (hi - lo) / count || 1;
    const power = 10 ** Math.floor(Math.log10(raw));
    const f = raw / power;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * power;
  }

  const CHART = { width: 360, height: 170, left: 44, right: 14, top: 12, bottom: 30 };

  // A small line chart as inline SVG: one polyline and its points per series, a y axis
  // with a few round values, the first and last dates under the x axis. `series`: [{name,
  // cls, shape ("circle" | "square"), points: [{t (ms), when (text), v}]}].
  function lineChart(id, title, unit, series) {
    const c = CHART;
    const all = series.flatMap((s) => s.points);
    const times = all.map((p) => p.t);
    const values = all.map((p) => p.v);
    const t0 = Math.min(...times);
    const t1 = Math.max(...times);
    let lo = Math.min(...values);
    let hi = Math.max(...values);
    const step = niceStep(lo, hi, 4);
    lo = Math.floor((lo - step / 2) / step) * step;
    hi = Math.ceil((hi + step / 2) / step) * step;
    const plotW = c.width - c.left - c.right;
    const plotH = c.height - c.top - c.bottom;
    const x = (t) => (t1 === t0 ? c.left + plotW / 2 : c.left + ((t - t0) / (t1 - t0)) * plotW);
    const y = (v) => c.top + plotH - ((v - lo) / (hi - lo)) * plotH;
    const r1 = (n) => Math.round(n * 10) / 10;
    const desc = series
      .map((s) => `${s.name}: ${s.points.map((p) => `${fmt(p.v)} on ${p.when}`).join(", ")}`)
      .join(". ");
    const root = svg("svg", {
      class: "chart-svg",
      id,
      viewBox: `0 0 ${c.width} ${c.height}`,
      role: "img",
      "aria-labelledby": `${id}-title ${id}-desc`,
    });
    root.append(svg("title", { id: `${id}-title`, text: `${title} over time (${unit})` }));
    root.append(svg("desc", { id: `${id}-desc`, text: desc + ` ${unit}.` }));
    const axis = svg("g", { class: "axis", "aria-hidden": "true" });
    for (let v = lo; v <= hi + step / 1000; v += step) {
      axis.append(svg("line", { class: "gridline", x1: c.left, x2: c.width - c.right, y1: r1(y(v)), y2: r1(y(v)) }));
      axis.append(svg("text", { x: c.left - 6, y: r1(y(v)) + 4, "text-anchor": "end", text: fmt(v) }));
    }
    const base = c.height - c.bottom;
    axis.append(svg("line", { class: "axis-line", x1: c.left, x2: c.width - c.right, y1: base, y2: base }));
    const first = all.find((p) => p.t === t0);
    const last = all.find((p) => p.t === t1);
    if (t1 === t0) {
      axis.append(svg("text", { x: r1(x(t0)), y: c.height - 8, "text-anchor": "middle", text: first.day }));
    } else {
      axis.append(svg("text", { x: c.left, y: c.height - 8, "text-anchor": "start", text: first.day }));
      axis.append(svg("text", { x: c.width - c.right, y: c.height - 8, "text-anchor": "end", text: last.day }));
    }
    root.append(axis);
    for (const s of series) {
      const g = svg("g", { class: `series ${s.cls}`, "data-series": s.name });
      if (s.points.length > 1) {
        g.append(svg("polyline", { class: "line", points: s.points.map((p) => `${r1(x(p.t))},${r1(y(p.v))}`).join(" ") }));
      }
      for (const p of s.points) {
        const px = r1(x(p.t));
        const py = r1(y(p.v));
        const mark =
          s.shape === "square"
            ? svg("rect", { class: "pt", x: px - 4, y: py - 4, width: 8, height: 8 })
            : svg("circle", { class: "pt", cx: px, cy: py, r: 4.5 });
        mark.append(svg("title", { text: `${s.name} ${fmt(p.v)} ${unit}, ${p.when}` }));
        g.append(mark);
      }
      root.append(g);
    }
    return root;
  }

  function legend(series) {
    const box = el("p", { class: "legend" });
    for (const s of series) {
      const swatch = svg("svg", { class: `swatch ${s.cls}`, viewBox: "0 0 24 12", "aria-hidden": "true", focusable: "false" });
      swatch.append(svg("line", { class: "line", x1: 0, x2: 24, y1: 6, y2: 6 }));
      swatch.append(
        s.shape === "square"
          ? svg("rect", { class: "pt", x: 8, y: 2, width: 8, height: 8 })
          : svg("circle", { class: "pt", cx: 12, cy: 6, r: 4.5 }),
      );
      box.append(el("span", { class: "key" }, swatch, " " + s.name));
    }
    return box;
  }

  function chartFigure(id, title, unit, series, none) {
    const figure = el("figure", { class: "chart", id: id + "-figure" });
    figure.append(el("figcaption", {}, `${title} (${unit})`));
    const shown = series.filter((s) => s.points.length);
    if (!shown.length) {
      figure.append(el("p", { class: "hint" }, none));
      return figure;
    }
    figure.append(lineChart(id, title, unit, shown));
    if (series.length > 1) figure.append(legend(series));
    return figure;
  }

  function measurementTable(rows) {
    const table = el("table", { class: "numbers" });
    table.append(el("caption", {}, "Weight and blood pressure at each check-in"));
    const head = el("tr", {});
    for (const h of ["Date", "Weight (kg)", "Blood pressure (mmHg)"]) head.append(el("th", { scope: "col" }, h));
    table.append(el("thead", {}, head));
    const body = el("tbody", {});
    for (const r of rows) {
      const m = r.m;
      const bp =
        m.systolic_bp != null && m.diastolic_bp != null
          ? `${fmt(m.systolic_bp)}/${fmt(m.diastolic_bp)}`
          : m.systolic_bp != null
            ? `${fmt(m.systolic_bp)} systolic`
            : m.diastolic_bp != null
              ? `${fmt(m.diastolic_bp)} diastolic`
              : "not measured";
      body.append(
        el("tr", {}, el("th", { scope: "row" }, r.when), el("td", {}, m.weight_kg != null ? fmt(m.weight_kg) : "not measured"), el("td", {}, bp)),
      );
    }
    table.append(body);
    return table;
  }

  // "Next visit: Headache" beside a "Next visit" pill reads as "Headache"
  function afterLevel(summary, level) {
    const prefix = (LEVEL_NAMES[level] || level) + ": ";
    return summary.toLowerCase().startsWith(prefix.toLowerCase()) ? summary.slice(prefix.length) : summary;
  }

  function renderHistory(items, justRecorded) {
    const body = byId("history-body");
    body.replaceChildren();
    if (!items.length) {
      body.append(el("p", { class: "hint" }, "No check-ins recorded for this patient yet."));
      return;
    }
    const rows = items.map((c) => {
      const d = new Date(c.reported_at);
      return {
        t: d.getTime(),
        when: localTime(c.reported_at),
        day: Number.isNaN(d.getTime()) ? c.reported_at : localDay(d),
        iso: c.reported_at,
        level: c.escalation,
        summary: afterLevel((c.result && c.result.summary) || "", c.escalation),
        m: (c.check_in && c.check_in.measurements) || {},
      };
    });
    const count = rows.length === 1 ? "1 check-in" : `${rows.length} check-ins`;
    body.append(el("p", { class: "hint" }, `${count}, oldest first${justRecorded ? "; the last is this call" : ""}.`));
    const list = el("ol", { class: "timeline" });
    rows.forEach((r, i) => {
      const item = el(
        "li",
        { class: "tl-item" },
        el("time", { datetime: r.iso }, r.when),
        " ",
        el("span", { class: `pill level-${r.level}` }, LEVEL_NAMES[r.level] || r.level),
        " ",
        el("span", { class: "tl-summary" }, r.summary),
      );
      if (justRecorded && i === rows.length - 1) item.append(" ", el("strong", { class: "tl-now" }, "(this call)"));
      list.append(item);
    });
    body.append(list);
    const valid = rows.filter((r) => !Number.isNaN(r.t));
    const points = (field) => valid.filter((r) => typeof r.m[field] === "number").map((r) => ({ t: r.t, when: r.when, day: r.day, v: r.m[field] }));
    const charts = el("div", { class: "charts" });
    charts.append(
      chartFigure("chart-weight", "Weight", "kg", [{ name: "Weight", cls: "s-weight", shape: "circle", points: points("weight_kg") }], "No weight was recorded at these check-ins."),
    );
    charts.append(
      chartFigure(
        "chart-bp",
        "Blood pressure",
        "mmHg",
        [
          { name: "Systolic", cls: "s-systolic", shape: "circle", points: points("systolic_bp") },
          { name: "Diastolic", cls: "s-diastolic", shape: "square", points: points("diastolic_bp") },
        ],
        "No blood pressure was recorded at these check-ins.",
      ),
    );
    body.append(charts);
    const table = el("details", { class: "more numbers-box" }, el("summary", {}, "The numbers as a table"));
    table.append(measurementTable(rows));
    body.append(table);
  }

  async function loadHistory(patientId, justRecorded) {
    const panel = byId("history");
    const serial = ++historySerial;
    if (!config.history || !patientId || patientIdProblem(patientId)) {
      panel.hidden = true;
      return;
    }
    const { status, data } = await api(checkInPath(patientId));
    if (serial !== historySerial) return; // another id was typed meanwhile
    panel.hidden = false;
    if (status !== 200 || !data || !Array.isArray(data.check_ins)) {
      const items = (data && data.errors) || [];
      const why = items.length ? items[0].message : "the service did not answer";
      byId("history-body").replaceChildren(el("p", { class: "problem" }, `Could not load the check-ins: ${why}.`));
      return;
    }
    renderHistory(data.check_ins, justRecorded);
  }

  // -- start -------------------------------------------------------------------------------

  function clearAll() {
    byId("desk").reset();
    flagged.clear();
    byId("symptoms").replaceChildren();
    addSymptomRow(false);
    for (const m of MEASURES) checkMeasure(m);
    for (const set of document.querySelectorAll("fieldset.rf")) set.classList.remove("is-yes", "missing");
    byId("rf-problem").hidden = true;
    byId("form-problem").hidden = true;
    updateEmergency();
    lastResult = null;
    byId("answer-body").replaceChildren(el("p", { class: "hint" }, "Answer the red flags, add the symptoms, then choose Triage."));
    byId("answer-tools").hidden = true;
    byId("history").hidden = true;
    historySerial++;
    lastRecorded = null;
    onPatientIdInput();
    document.querySelector("fieldset.rf input") && document.querySelector("fieldset.rf input").focus();
  }

  async function start() {
    const { status, data } = await api("/v1/desk");
    if (status !== 200) {
      byId("red-flags").replaceChildren(el("p", { class: "problem" }, "The service did not give the questions; reload the page."));
      return;
    }
    config = data;
    renderRedFlags();
    const route = byId("route");
    for (const r of config.routes) route.append(el("option", { value: r }, r.replace(/_/g, " ")));
    addSymptomRow(false);
    for (const m of MEASURES) {
      byId(m.id).addEventListener("input", () => checkMeasure(m));
      if (m.unit) byId(m.unit).addEventListener("change", () => checkMeasure(m));
    }
    const pid = byId("patient-id");
    pid.addEventListener("input", onPatientIdInput);
    pid.addEventListener("change", () => loadHistory(pid.value.trim(), false));
    byId("patient-id-note").hidden = !config.history;
    byId("desk").addEventListener("submit", onSubmit);
    byId("add-symptom").addEventListener("click", () => addSymptomRow(true));
    byId("clear").addEventListener("click", clearAll);
    byId("print").addEventListener("click", () => window.print());
    byId("copy").addEventListener("click", copySummary);
    document.body.dataset.ready = "true";
  }

  document.addEventListener("DOMContentLoaded", start);
})();
