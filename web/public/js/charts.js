// Progress charts with Chart.js (window.Chart, from /vendor/) and its annotation plugin,
// which draws the check-in flag thresholds. Both load the first time a page draws a chart,
// so that the pages' heads do not each list them and pages without charts skip them.

import { dayOf, h } from "./ui.js";

// The session scale (0–40) flags an alliance concern below 36; the outcome scale's clinical
// cutoff is 25.
export const SESSION_THRESHOLD = 36;
export const OUTCOME_CUTOFF = 25;

const CLINICIAN = "#1f5f8b";
const CLIENT = "#b35900";
const OUTCOME = "#1e6b3a";

function hasData(item) {
  return item.session_total !== null || item.outcome_total !== null || item.goals.length > 0;
}

/** Sessions with something to show, oldest first. */
export function sessionsWithData(progress) {
  return [...progress.items].filter(hasData).sort((a, b) => a.starts_at.localeCompare(b.starts_at));
}

function threshold(value, label, color) {
  return {
    type: "line",
    yMin: value,
    yMax: value,
    borderColor: color,
    borderWidth: 2,
    borderDash: [6, 4],
    label: { display: true, content: label, position: "start", backgroundColor: "rgba(255,255,255,0.9)", color: "#1d2733", font: { size: 11 } },
  };
}

const LIBRARY = ["/vendor/chart.umd.min.js", "/vendor/chartjs-plugin-annotation.min.js"];
let loading = null;

/** Loads Chart.js, then its plugin (which registers itself with it), once. */
function loadLibrary() {
  loading ??= (async () => {
    for (const src of LIBRARY) {
      await new Promise((resolve, reject) => {
        document.head.append(h("script", { src, on: { load: resolve, error: () => reject(new Error(`${src} did not load`)) } }));
      });
    }
  })();
  return loading;
}

function replace(canvas, config) {
  window.Chart.getChart(canvas)?.destroy();
  return new window.Chart(canvas, config);
}

function lineOptions(max, annotations = {}) {
  return {
    responsive: true,
    maintainAspectRatio: false,
    animation: false,
    spanGaps: true,
    elements: { point: { radius: 4, hoverRadius: 6 } },
    scales: { y: { min: 0, max, ticks: { color: "#1d2733" } }, x: { ticks: { color: "#1d2733" } } },
    plugins: { legend: { labels: { color: "#1d2733" } }, annotation: { annotations } },
  };
}

/** Check-in totals per session, with the session threshold and outcome cutoff drawn. */
export function checkInChart(canvas, sessions) {
  const sessionTotals = sessions.map((s) => s.session_total);
  const outcomeTotals = sessions.map((s) => s.outcome_total);
  canvas.dataset.sessionTotals = JSON.stringify(sessionTotals);
  const latest = sessionTotals.filter((v) => v !== null).at(-1);
  canvas.setAttribute(
    "aria-label",
    `Check-in totals over ${sessions.length} sessions` + (latest !== undefined ? `; latest session rating ${latest} of 40` : ""),
  );
  return replace(canvas, {
    type: "line",
    data: {
      labels: sessions.map((s) => dayOf(s.starts_at)),
      datasets: [
        { label: "Session rating (of 40)", data: sessionTotals, borderColor: CLINICIAN, backgroundColor: CLINICIAN, tension: 0.2 },
        { label: "How the week went (of 40)", data: outcomeTotals, borderColor: OUTCOME, backgroundColor: OUTCOME, borderDash: [3, 3], tension: 0.2 },
      ],
    },
    options: lineOptions(40, {
      session: threshold(SESSION_THRESHOLD, `Session threshold ${SESSION_THRESHOLD}`, CLINICIAN),
      outcome: threshold(OUTCOME_CUTOFF, `Outcome cutoff ${OUTCOME_CUTOFF}`, OUTCOME),
    }),
  });
}

/** One goal's progress per session, as the clinician and the client each rated it. */
export function goalChart(canvas, goal, sessions) {
  const rated = sessions.filter((s) => s.goals.some((g) => g.goal_id === goal.id));
  const of = (side) => rated.map((s) => s.goals.find((g) => g.goal_id === goal.id)?.[side] ?? null);
  canvas.setAttribute("aria-label", `Progress on “${goal.statement}” over ${rated.length} sessions, from both sides`);
  return replace(canvas, {
    type: "line",
    data: {
      labels: rated.map((s) => dayOf(s.starts_at)),
      datasets: [
        { label: "Clinician's rating", data: of("clinician"), borderColor: CLINICIAN, backgroundColor: CLINICIAN, tension: 0.2 },
        { label: "Client's rating", data: of("client"), borderColor: CLIENT, backgroundColor: CLIENT, borderDash: [3, 3], tension: 0.2 },
      ],
    },
    options: lineOptions(10),
  });
}

/** Fills `container` with the check-in chart and one chart per goal. */
export async function renderProgress(container, progress, goals) {
  const sessions = sessionsWithData(progress);
  if (sessions.length) await loadLibrary();
  container.replaceChildren();
  if (!sessions.length) {
    container.append(h("p", { class: "empty" }, "No sessions with ratings yet."));
    return;
  }
  const checkIns = h("canvas", { id: "check-in-chart", role: "img" });
  container.append(h("h3", {}, "Check-ins"), h("div", { class: "chart-box" }, checkIns));
  checkInChart(checkIns, sessions);
  for (const goal of goals.filter((g) => sessions.some((s) => s.goals.some((p) => p.goal_id === g.id)))) {
    const canvas = h("canvas", { role: "img", dataset: { goalId: goal.id } });
    container.append(h("h3", {}, goal.statement), h("div", { class: "chart-box" }, canvas));
    goalChart(canvas, goal, sessions);
  }
}

// Severity bands shaded from light to dark behind a measure's totals.
const BAND_SHADES = ["rgba(30,107,58,0.08)", "rgba(179,89,0,0.08)", "rgba(179,89,0,0.14)", "rgba(179,38,30,0.12)", "rgba(179,38,30,0.2)"];
const INSTRUMENT_TITLES = { "phq-9": "PHQ-9", "gad-7": "GAD-7", "wai-sr": "WAI-SR" };
const CHANGE_TEXT = {
  "reliable-improvement": "reliably improved",
  "reliable-deterioration": "reliably deteriorated",
  "no-reliable-change": "no reliable change",
};

/** One measure's totals over time with its severity bands (and caseness line) drawn. */
export function measureChart(canvas, trend) {
  const title = INSTRUMENT_TITLES[trend.instrument] || trend.instrument;
  const max = trend.bands.at(-1).high;
  const annotations = Object.fromEntries(
    trend.bands.map((band, index) => [
      band.name,
      {
        type: "box",
        yMin: band.low,
        yMax: index === trend.bands.length - 1 ? band.high : band.high + 1,
        backgroundColor: BAND_SHADES[index % BAND_SHADES.length],
        borderWidth: 0,
        label: { display: trend.bands.length > 1, content: band.name, position: { x: "end", y: "center" }, color: "#1d2733", font: { size: 10 } },
      },
    ]),
  );
  if (trend.caseness !== null) annotations.caseness = threshold(trend.caseness, `Caseness ${trend.caseness}`, OUTCOME);
  const latest = trend.points.at(-1);
  canvas.setAttribute(
    "aria-label",
    `${title} totals over ${trend.points.length} answers; latest ${latest.total} (${latest.band}); ${CHANGE_TEXT[trend.change] || trend.change} since the first`,
  );
  return replace(canvas, {
    type: "line",
    data: {
      labels: trend.points.map((p) => dayOf(p.completed_at)),
      datasets: [{ label: `${title} total`, data: trend.points.map((p) => p.total), borderColor: CLINICIAN, backgroundColor: CLINICIAN, tension: 0.2 }],
    },
    options: lineOptions(max, annotations),
  });
}

/** Fills `container` with one chart per measure answered, and the course's outcome so far. */
export async function renderMeasureTrends(container, summary) {
  container.replaceChildren();
  if (!summary.trends.length) {
    container.append(h("p", { class: "empty" }, "No measures answered yet."));
    return;
  }
  await loadLibrary();
  const outcome = summary.change
    ? `${CHANGE_TEXT[summary.change]}${summary.reliably_recovered ? "; reliably recovered" : summary.recovered ? "; recovered" : ""}`
    : "";
  if (outcome) container.append(h("p", { class: "measure-outcome" }, h("strong", {}, "So far: "), outcome));
  for (const trend of summary.trends) {
    const canvas = h("canvas", { role: "img", dataset: { instrument: trend.instrument } });
    container.append(h("h3", {}, INSTRUMENT_TITLES[trend.instrument] || trend.instrument), h("div", { class: "chart-box" }, canvas));
    measureChart(canvas, trend);
  }
}
