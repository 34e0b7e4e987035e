/* fleetauth.ssh audit report: draws the page from the JSON in #report-data.
 * DOM is built with createElement/textContent/setAttribute only (no innerHTML,
 * no eval), so report strings are always text. State (filter, sort, open host)
 * lives in the URL fragment: #filter=...&sort=...&dir=asc|desc&host=...
 */
(function () {
  "use strict";

  var SVG_NS = "http://www.w3.org/2000/svg";
  var SEVERITIES = ["critical", "high", "medium", "low", "info"];
  var STATUS_TEXT = { pass: "pass", fail: "FAIL", error: "error", na: "n/a" };
  var STATUS_RANK = { fail: 0, error: 1, na: 2, pass: 3 };
  var HOST_RANK = { unreachable: 0, failed: 1, missing: 2, ok: 3 };
  var COMPLIANCE_RANK = { noncompliant: 0, unknown: 1, compliant: 2 };

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }

  function svgEl(tag, attrs, text) {
    var node = document.createElementNS(SVG_NS, tag);
    setAttrs(node, attrs);
    if (text !== undefined) {
      node.textContent = String(text);
    }
    return node;
  }

  function setAttrs(node, attrs) {
    if (!attrs) {
      return;
    }
    Object.keys(attrs).forEach(function (name) {
      var value = attrs[name];
      if (value === null || value === undefined || value === false) {
        return;
      }
      node.setAttribute(name, value === true ? "" : String(value));
    });
  }

  function append(node, children) {
    if (children === null || children === undefined) {
      return;
    }
    if (!Array.isArray(children)) {
      children = [children];
    }
    children.forEach(function (child) {
      if (child === null || child === undefined || child === false) {
        return;
      }
      node.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
    });
  }

  function text(value) {
    if (value === null || value === undefined) {
      return "";
    }
    if (typeof value === "object") {
      return JSON.stringify(value);
    }
    return String(value);
  }

  function yesNo(value) {
    if (value === true) {
      return "yes";
    }
    if (value === false) {
      return "no";
    }
    return "?";
  }

  function compare(a, b) {
    var aNull = a === null || a === undefined || a === "";
    var bNull = b === null || b === undefined || b === "";
    if (aNull || bNull) {
      return aNull === bNull ? 0 : aNull ? 1 : -1;
    }
    if (typeof a === "number" && typeof b === "number") {
      return a - b;
    }
    return String(a).localeCompare(String(b), undefined, { numeric: true, sensitivity: "base" });
  }

  // ------------------------------------------------------------------ data

  var report = JSON.parse(document.getElementById("report-data").textContent);
  var app = document.getElementById("app");
  var hosts = report.hosts || [];
  var policies = report.policies || [];
  var state = { filter: "", sort: "host", dir: "asc", host: "" };

  hosts.forEach(function (host) {
    var results = {};
    (host.policies || []).forEach(function (result) {
      results[result.id] = result;
    });
    host._results = results;
    var words = [host.name, "status:" + host.status, "compliance:" + host.compliance, host.error || ""];
    if (host.openssh && host.openssh.version) {
      words.push("openssh:" + host.openssh.version);
    }
    (host.policies || []).forEach(function (result) {
      words.push(result.status + ":" + result.id);
    });
    (host.findings || []).forEach(function (finding) {
      words.push("kind:" + finding.kind);
    });
    ((host.pam && host.pam.second_factors) || []).forEach(function (module) {
      words.push("pam:" + module);
    });
    host._haystack = words.join("\n").toLowerCase();
  });

  function auth(host) {
    return (host.sshd && host.sshd.auth) || {};
  }

  function methodsText(alternatives) {
    if (!alternatives) {
      return "?";
    }
    if (!alternatives.length) {
      return "any";
    }
    return alternatives
      .map(function (steps) {
        return steps.join(",");
      })
      .join(" ");
  }

  function pamText(host) {
    var pam = host.pam || {};
    if (pam.status !== "collected") {
      return pam.status || "?";
    }
    var factors = pam.second_factors || [];
    if (!factors.length) {
      return "none";
    }
    return factors.join(",") + (pam.second_factor_nullok ? " (nullok)" : "");
  }

  function keysText(host) {
    var keys = host.authorized_keys || {};
    if (keys.status !== "collected") {
      return keys.status || "?";
    }
    return String((keys.findings || []).length);
  }

  // ------------------------------------------------------------------ host table columns

  var columns = [
    { key: "host", label: "Host", value: function (h) { return h.name; }, cell: hostCell },
    { key: "status", label: "Status", value: function (h) { return HOST_RANK[h.status]; }, cell: function (h) { return badge(h.status, "host-" + h.status, h.error); } },
    { key: "compliance", label: "Compliance", value: function (h) { return COMPLIANCE_RANK[h.compliance]; }, cell: function (h) { return badge(h.compliance, "comp-" + h.compliance); } },
    { key: "openssh", label: "OpenSSH", value: function (h) { return h.openssh && h.openssh.major !== null ? h.openssh.major * 1000 + h.openssh.minor : null; }, cell: function (h) { return (h.openssh && h.openssh.version) || ""; } },
    { key: "password", label: "Password", title: "PasswordAuthentication (global)", value: function (h) { return yesNo(auth(h).password); }, cell: function (h) { return yesNo(auth(h).password); } },
    { key: "kbdint", label: "Kbd-int", title: "keyboard-interactive (KbdInteractiveAuthentication, or ChallengeResponseAuthentication before OpenSSH 8.7)", value: function (h) { return yesNo(auth(h).kbdint); }, cell: function (h) { return yesNo(auth(h).kbdint); } },
    { key: "pubkey", label: "Pubkey", title: "PubkeyAuthentication (global)", value: function (h) { return yesNo(auth(h).pubkey); }, cell: function (h) { return yesNo(auth(h).pubkey); } },
    { key: "methods", label: "AuthMethods", title: "AuthenticationMethods (global)", value: function (h) { return methodsText(auth(h).authentication_methods); }, cell: function (h) { return methodsText(auth(h).authentication_methods); } },
    { key: "root", label: "Root login", title: "PermitRootLogin (global)", value: function (h) { return auth(h).permit_root_login; }, cell: function (h) { return text(auth(h).permit_root_login); } },
    { key: "pam", label: "PAM 2nd factor", title: "second-factor modules in the sshd PAM auth stack", value: pamText, cell: pamText },
    { key: "keys", label: "Key findings", title: "authorized_keys findings (or why keys were not collected)", value: function (h) { var k = keysText(h); return /^\d+$/.test(k) ? Number(k) : null; }, cell: keysText },
    { key: "fail", label: "Fail", title: "policies failed", value: function (h) { return h.counts ? h.counts.fail : null; }, cell: function (h) { return h.counts ? String(h.counts.fail) : ""; } },
    { key: "error", label: "Error", title: "policies that could not be evaluated", value: function (h) { return h.counts ? h.counts.error : null; }, cell: function (h) { return h.counts ? String(h.counts.error) : ""; } }
  ];
  policies.forEach(function (policy) {
    columns.push({
      key: "p:" + policy.id,
      label: policy.id,
      title: policy.title + " (" + policy.severity + ")",
      policy: policy,
      value: function (h) {
        var r = h._results[policy.id];
        return r ? STATUS_RANK[r.status] : null;
      },
      cell: function (h) {
        var r = h._results[policy.id];
        return r ? badge(STATUS_TEXT[r.status], "res-" + r.status, r.reason) : "";
      }
    });
  });
  var columnsByKey = {};
  columns.forEach(function (c) {
    columnsByKey[c.key] = c;
  });

  function badge(label, cls, title) {
    return el("span", { class: "badge " + cls, title: title || null }, label);
  }

  function hostCell(h) {
    return el("button", { type: "button", class: "link host-link", "data-open-host": h.name, title: "show details" }, h.name);
  }

  // ------------------------------------------------------------------ URL fragment state

  function readHash() {
    var params = new URLSearchParams(window.location.hash.replace(/^#/, ""));
    state.filter = params.get("filter") || "";
    state.sort = columnsByKey[params.get("sort")] ? params.get("sort") : "host";
    state.dir = params.get("dir") === "desc" ? "desc" : "asc";
    state.host = params.get("host") || "";
  }

  function writeHash() {
    var params = new URLSearchParams();
    if (state.filter) {
      params.set("filter", state.filter);
    }
    if (state.sort !== "host" || state.dir !== "asc") {
      params.set("sort", state.sort);
      params.set("dir", state.dir);
    }
    if (state.host) {
      params.set("host", state.host);
    }
    var hash = params.toString();
    try {
      window.history.replaceState(null, "", hash ? "#" + hash : window.location.pathname + window.location.search);
    } catch (e) {
      // Some browsers refuse history changes on file:// pages; the view still works.
    }
  }

  // ------------------------------------------------------------------ page skeleton

  var ui = {};

  function card(label, value, cls) {
    return el("div", { class: "card " + (cls || "") }, [el("div", { class: "card-value" }, String(value)), el("div", { class: "card-label" }, label)]);
  }

  function buildHeader() {
    var s = report.summary || {};
    var h = s.hosts || {};
    var r = s.results || {};
    document.title = report.title || "SSH authentication audit";
    return el("header", null, [
      el("h1", null, report.title || "SSH authentication audit"),
      el("p", { class: "meta" }, [
        "Generated " + text(report.generated_at),
        report.policy_source ? " from policies in " + report.policy_source : "",
        report.generator && report.generator.ansible_version ? " \u00b7 ansible-core " + report.generator.ansible_version : ""
      ]),
      el("div", { class: "cards" }, [
        card("hosts", h.total || 0),
        card("reachable", h.ok || 0, "good"),
        card("unreachable / failed", (h.unreachable || 0) + (h.failed || 0) + (h.missing || 0), (h.unreachable || h.failed || h.missing) ? "bad" : ""),
        card("compliant", h.compliant || 0, "good"),
        card("non-compliant", h.noncompliant || 0, h.noncompliant ? "bad" : ""),
        card("policy failures", r.fail || 0, r.fail ? "bad" : ""),
        card("policy errors", r.error || 0, r.error ? "warn" : "")
      ])
    ]);
  }

  function buildPolicies() {
    var rows = policies.map(function (p) {
      var c = p.counts || {};
      var details = el("details", null, [
        el("summary", null, p.title),
        p.description ? el("p", null, p.description) : null,
        p.remediation ? el("p", null, [el("strong", null, "Remediation: "), p.remediation]) : null,
        el("p", null, [el("strong", null, "Expression: "), el("code", null, p.expression)]),
        p.applies_when ? el("p", null, [el("strong", null, "Applies when: "), el("code", null, p.applies_when)]) : null,
        p.error ? el("p", { class: "policy-error" }, p.error) : null
      ]);
      return el("tr", { "data-policy": p.id }, [
        el("td", null, el("button", { type: "button", class: "link", "data-filter": "fail:" + p.id, title: "show hosts failing this policy" }, p.id)),
        el("td", null, details),
        el("td", null, badge(p.severity, "sev-" + p.severity)),
        el("td", { class: "num" }, String(c.pass || 0)),
        el("td", { class: "num" + (c.fail ? " bad" : "") }, String(c.fail || 0)),
        el("td", { class: "num" + (c.error ? " warn" : "") }, String(c.error || 0)),
        el("td", { class: "num" }, String(c.na || 0))
      ]);
    });
    return el("section", { id: "policies" }, [
      el("h2", null, "Policies (" + policies.length + ")"),
      el("table", { class: "grid", id: "policy-table" }, [
        el("thead", null, el("tr", null, ["Policy", "Title", "Severity", "Pass", "Fail", "Error", "n/a"].map(function (t) { return el("th", null, t); }))),
        el("tbody", null, rows)
      ])
    ]);
  }

  function buildFindings() {
    ui.chart = el("div", { id: "findings-chart", class: "chart" });
    return el("section", { id: "findings" }, [
      el("h2", null, "Findings by kind"),
      el("p", { class: "hint" }, "Policy failures and authorized_keys findings of the hosts shown below; colour is the worst severity."),
      ui.chart
    ]);
  }

  function buildHosts() {
    ui.filter = el("input", { type: "search", id: "filter", placeholder: "filter hosts, e.g.  web fail:password-auth-off  status:unreachable", "aria-label": "filter hosts", autocomplete: "off", spellcheck: "false" });
    ui.count = el("span", { id: "host-count", class: "hint" });
    ui.headers = {};
    var headRow = el("tr", null, columns.map(function (c) {
      var th = el("th", { "data-col": c.key, class: c.policy ? "policy-col" : null }, el("button", { type: "button", class: "sort", "data-sort": c.key, title: c.title || "sort by " + c.label }, c.label));
      ui.headers[c.key] = th;
      return th;
    }));
    ui.rows = {};
    ui.tbody = el("tbody", null, hosts.map(function (h) {
      var tr = el("tr", { "data-host": h.name, class: "host-row status-" + h.status }, columns.map(function (c) {
        return el("td", { "data-col": c.key }, c.cell(h));
      }));
      ui.rows[h.name] = tr;
      return tr;
    }));
    ui.empty = el("p", { id: "no-hosts", class: "hint", hidden: true }, "No host matches the filter.");
    return el("section", { id: "hosts" }, [
      el("h2", null, "Hosts"),
      el("div", { class: "toolbar" }, [ui.filter, ui.count]),
      el("div", { class: "scroll" }, el("table", { class: "grid", id: "host-table" }, [el("thead", null, headRow), ui.tbody])),
      ui.empty
    ]);
  }

  // ------------------------------------------------------------------ behaviour

  function matches(host, terms) {
    for (var i = 0; i < terms.length; i++) {
      if (host._haystack.indexOf(terms[i]) < 0) {
        return false;
      }
    }
    return true;
  }

  function visibleHosts() {
    var terms = state.filter.toLowerCase().split(/\s+/).filter(Boolean);
    return hosts.filter(function (h) {
      return matches(h, terms);
    });
  }

  function apply() {
    if (ui.filter.value !== state.filter) {
      ui.filter.value = state.filter;
    }
    var column = columnsByKey[state.sort];
    var sign = state.dir === "desc" ? -1 : 1;
    var sorted = hosts.slice().sort(function (a, b) {
      return sign * compare(column.value(a), column.value(b)) || compare(a.name, b.name);
    });
    var visible = visibleHosts();
    var shown = {};
    visible.forEach(function (h) {
      shown[h.name] = true;
    });
    sorted.forEach(function (h) {
      var tr = ui.rows[h.name];
      tr.hidden = !shown[h.name];
      ui.tbody.appendChild(tr);
    });
    Object.keys(ui.headers).forEach(function (key) {
      ui.headers[key].setAttribute("aria-sort", key === state.sort ? (state.dir === "asc" ? "ascending" : "descending") : "none");
    });
    ui.count.textContent = "showing " + visible.length + " of " + hosts.length + " hosts";
    ui.empty.hidden = visible.length > 0;
    drawChart(visible);
    drawDetails();
    app.setAttribute("data-visible-hosts", String(visible.length));
  }

  function drawChart(visible) {
    var kinds = {};
    visible.forEach(function (h) {
      (h.findings || []).forEach(function (f) {
        var key = f.source + "\u0000" + f.kind;
        var entry = kinds[key] || (kinds[key] = { source: f.source, kind: f.kind, severity: f.severity, count: 0 });
        entry.count += 1;
        if (SEVERITIES.indexOf(f.severity) < SEVERITIES.indexOf(entry.severity)) {
          entry.severity = f.severity;
        }
      });
    });
    var list = Object.keys(kinds).map(function (k) { return kinds[k]; });
    list.sort(function (a, b) {
      return b.count - a.count || SEVERITIES.indexOf(a.severity) - SEVERITIES.indexOf(b.severity) || compare(a.kind, b.kind);
    });
    ui.chart.textContent = "";
    if (!list.length) {
      ui.chart.appendChild(el("p", { class: "hint", id: "no-findings" }, "No findings for the hosts shown."));
      return;
    }
    var max = list.reduce(function (m, e) { return Math.max(m, e.count); }, 1);
    var rowH = 24;
    var labelW = 300;
    var barW = 420;
    var width = labelW + barW + 60;
    var height = list.length * rowH + 8;
    var chart = svgEl("svg", { width: width, height: height, viewBox: "0 0 " + width + " " + height, role: "img", "aria-label": "findings by kind" });
    list.forEach(function (entry, i) {
      var y = 4 + i * rowH;
      var w = Math.max(2, Math.round((entry.count / max) * barW));
      var g = svgEl("g", { class: "bar", "data-kind": entry.kind, "data-source": entry.source, "data-count": entry.count });
      g.appendChild(svgEl("title", null, entry.source + " / " + entry.kind + ": " + entry.count + " (worst severity " + entry.severity + ")"));
      var label = (entry.source === "policy" ? "policy " : "keys ") + entry.kind;
      g.appendChild(svgEl("text", { x: labelW - 8, y: y + 16, "text-anchor": "end", class: "chart-label" }, label.length > 44 ? label.slice(0, 43) + "\u2026" : label));
      g.appendChild(svgEl("rect", { x: labelW, y: y + 3, width: w, height: rowH - 6, class: "fill-" + entry.severity }));
      g.appendChild(svgEl("text", { x: labelW + w + 6, y: y + 16, class: "chart-count" }, entry.count));
      chart.appendChild(g);
    });
    ui.chart.appendChild(chart);
    var legend = el("p", { class: "legend" }, SEVERITIES.map(function (s) {
      return el("span", { class: "badge sev-" + s }, s);
    }));
    ui.chart.appendChild(legend);
  }

  // ------------------------------------------------------------------ host details

  function kvTable(rows) {
    return el("table", { class: "kv" }, el("tbody", null, rows.map(function (r) {
      return el("tr", null, [el("th", null, r[0]), el("td", null, r[1])]);
    })));
  }

  function authRows(a) {
    a = a || {};
    return [
      ["PubkeyAuthentication", yesNo(a.pubkey)],
      ["PasswordAuthentication", yesNo(a.password)],
      ["keyboard-interactive", yesNo(a.kbdint) + (a.kbdint_keyword ? " (" + a.kbdint_keyword + ")" : "")],
      ["UsePAM", yesNo(a.usepam)],
      ["AuthenticationMethods", methodsText(a.authentication_methods) + (a.multi_factor ? " (multi-factor)" : "")],
      ["PermitRootLogin", text(a.permit_root_login)],
      ["PermitEmptyPasswords", yesNo(a.permit_empty_passwords)],
      ["MaxAuthTries", text(a.max_auth_tries)]
    ];
  }

  function listTable(headers, rows, id) {
    return el("table", { class: "grid", id: id || null }, [
      el("thead", null, el("tr", null, headers.map(function (t) { return el("th", null, t); }))),
      el("tbody", null, rows.map(function (r) {
        return el("tr", null, r.map(function (cell) { return el("td", null, cell); }));
      }))
    ]);
  }

  function drawDetails() {
    var panel = ui.details;
    panel.textContent = "";
    var host = null;
    hosts.forEach(function (h) {
      if (h.name === state.host) {
        host = h;
      }
    });
    panel.hidden = !host;
    if (!host) {
      return;
    }
    var sshd = host.sshd || {};
    var pam = host.pam || {};
    var keys = host.authorized_keys || {};
    var parts = [
      el("div", { class: "details-head" }, [
        el("h2", null, ["Host ", el("span", { class: "host-name" }, host.name)]),
        el("button", { type: "button", class: "close", "data-close": "1", title: "close" }, "close \u00d7")
      ]),
      el("p", null, [badge(host.status, "host-" + host.status), " ", badge(host.compliance, "comp-" + host.compliance), host.openssh && host.openssh.banner ? " " + host.openssh.banner : ""]),
      host.error ? el("p", { class: "error-text" }, host.error) : null,
      sshd.error ? el("p", { class: "error-text" }, sshd.error) : null
    ];
    parts.push(el("h3", null, "Policy results"));
    parts.push(listTable(["Policy", "Severity", "Result", "Reason"], (host.policies || []).map(function (r) {
      var p = policies.filter(function (x) { return x.id === r.id; })[0] || {};
      return [el("span", { title: p.title || "" }, r.id), badge(p.severity || "?", "sev-" + p.severity), badge(STATUS_TEXT[r.status], "res-" + r.status), r.reason || ""];
    }), "detail-policies"));

    parts.push(el("h3", null, "Effective authentication settings (sshd -T)"));
    parts.push(kvTable(authRows(sshd.auth)));
    (sshd.notes || []).forEach(function (n) {
      parts.push(el("p", { class: "hint" }, n));
    });
    if ((sshd.contexts || []).length) {
      parts.push(el("h3", null, "Connection contexts (sshd -T -C)"));
      parts.push(listTable(["Context", "-C", "Auth", "Differs from global"], sshd.contexts.map(function (c) {
        var a = c.auth || {};
        var overrides = c.overrides ? Object.keys(c.overrides).map(function (k) { return k + " " + text(c.overrides[k]); }).join("; ") : "";
        return [c.name, el("code", null, c.spec), c.error ? el("span", { class: "error-text" }, c.error) : "password " + yesNo(a.password) + ", kbd-int " + yesNo(a.kbdint) + ", pubkey " + yesNo(a.pubkey) + ", methods " + methodsText(a.authentication_methods), overrides || "(nothing)"];
      })));
    }
    var mb = sshd.match_blocks;
    if (mb) {
      parts.push(el("h3", null, "Match blocks found"));
      if (mb.status !== "collected") {
        parts.push(el("p", { class: "hint" }, mb.status + (mb.error ? ": " + mb.error : "")));
      } else if (!mb.blocks.length) {
        parts.push(el("p", { class: "hint" }, "none (" + mb.source + ")"));
      } else {
        parts.push(listTable(["File", "Line", "Match"], mb.blocks.map(function (b) { return [b.file, String(b.line), b.criteria]; })));
        parts.push(el("p", { class: "hint" }, mb.note || ""));
      }
    }

    parts.push(el("h3", null, "PAM (keyboard-interactive)"));
    if (pam.status === "collected" && pam.source === "pam_file_scan") {
      parts.push(kvTable([
        ["file", text(pam.file)],
        ["second factor", (pam.second_factors || []).join(", ") || "none"],
        ["nullok", yesNo(pam.second_factor_nullok)],
        ["password stack", text(pam.password_stack) || "none"],
        ["@include common-auth", yesNo(pam.includes_common_auth)],
        ["auth stack", (pam.auth || []).map(function (e) { return e.module ? e.control + " " + e.module : e.via + " " + e.include; }).join("; ")]
      ]));
    } else {
      parts.push(el("pre", null, JSON.stringify(pam, null, 2)));
    }

    parts.push(el("h3", null, "authorized_keys"));
    if (keys.status !== "collected") {
      parts.push(el("p", { class: "hint" }, keys.status + (keys.reason ? ": " + keys.reason : "")));
    } else {
      parts.push(el("p", null, (keys.users || []).length + " account(s) with key lists; " + (keys.findings || []).length + " finding(s)"));
      parts.push(listTable(["Account", "Keys"], (keys.users || []).map(function (u) {
        var lines = (u.keys || []).map(function (k) {
          return typeof k === "object" && k !== null ? [k.type, k.bits, k.fingerprint, k.comment].filter(function (x) { return x !== undefined && x !== null && x !== ""; }).join("  ") : text(k);
        });
        return [text(u.user), el("pre", { class: "keys" }, lines.join("\n") || "(none)")];
      }), "detail-key-users"));
      parts.push(listTable(["Severity", "Kind", "User", "File", "Line", "Fingerprint", "Message"], (keys.findings || []).map(function (f) {
        return [badge(f.severity, "sev-" + f.severity), text(f.kind), text(f.user), text(f.file), text(f.line), el("code", null, text(f.fingerprint)), text(f.message)];
      }), "detail-key-findings"));
    }

    if (sshd.effective) {
      var keywords = Object.keys(sshd.effective).sort();
      parts.push(el("details", null, [
        el("summary", null, "Full sshd -T output (" + keywords.length + " keywords)"),
        kvTable(keywords.map(function (k) {
          var v = sshd.effective[k];
          return [k, Array.isArray(v) ? v.join("\n") : text(v)];
        }))
      ]));
    }
    append(panel, parts);
  }

  // ------------------------------------------------------------------ wiring

  function onClick(event) {
    var target = event.target.closest ? event.target.closest("button") : null;
    if (!target) {
      return;
    }
    if (target.hasAttribute("data-sort")) {
      var key = target.getAttribute("data-sort");
      if (state.sort === key) {
        state.dir = state.dir === "asc" ? "desc" : "asc";
      } else {
        state.sort = key;
        state.dir = "asc";
      }
    } else if (target.hasAttribute("data-open-host")) {
      state.host = target.getAttribute("data-open-host");
    } else if (target.hasAttribute("data-close")) {
      state.host = "";
    } else if (target.hasAttribute("data-filter")) {
      state.filter = target.getAttribute("data-filter");
    } else {
      return;
    }
    writeHash();
    apply();
    if (target.hasAttribute("data-open-host") && ui.details.scrollIntoView) {
      ui.details.scrollIntoView();
    }
  }

  function main() {
    readHash();
    ui.details = el("section", { id: "host-details", hidden: true });
    append(app, [buildHeader(), buildPolicies(), buildFindings(), buildHosts(), ui.details, el("footer", null, "fleetauth.ssh audit report \u00b7 format " + text(report.format) + " v" + text(report.format_version))]);
    ui.filter.addEventListener("input", function () {
      state.filter = ui.filter.value;
      writeHash();
      apply();
    });
    app.addEventListener("click", onClick);
    window.addEventListener("hashchange", function () {
      readHash();
      apply();
    });
    apply();
    app.setAttribute("data-state", "ready");
  }

  try {
    main();
  } catch (err) {
    app.setAttribute("data-state", "error");
    app.appendChild(el("p", { class: "error-text" }, "This report could not be drawn: " + err));
    throw err;
  }
})();
