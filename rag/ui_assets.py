"""The web UI's stylesheet and browser scripts (``rag.ui``), as strings.

``CSS`` styles the chat, the source cards, the article view, the library and the text check
in light and dark mode (Gradio puts ``.dark`` on ``<body>``) and down to phone widths.
``CHAT_JS`` runs once in the chat component (Gradio's ``js_on_load``: ``element``,
``server``, ``watch``): a tooltip kept inside the window for each ``[n]``; a click on ``[n]``
scrolls to that answer's quote and flashes it; "Read in the article" opens the whole article
(``server.article``) in a dialog scrolled to the quote; a new question scrolls the chat to it.
``CHECK_JS`` links the sentences and cards of a text check on hover.
"""

from __future__ import annotations

CHAT_JS = r"""
const doc = element.ownerDocument;
const inChat = (ev, sel) => {
  const t = ev.target && ev.target.closest ? ev.target.closest(sel) : null;
  return t && element.contains(t) ? t : null;
};

// -- the tooltip of an [n] marker, placed inside the window ---------------------------
let tip = doc.getElementById('cite-tip');
if (!tip) {
  tip = doc.createElement('div');
  tip.id = 'cite-tip';
  tip.className = 'cite-tip';
  tip.setAttribute('role', 'tooltip');
  tip.hidden = true;
  doc.body.appendChild(tip);
}
const showTip = (a) => {
  const src = a.querySelector('.tip');
  if (!src) return;
  tip.innerHTML = src.innerHTML;
  tip.hidden = false;
  const w = Math.min(380, window.innerWidth - 16);
  tip.style.width = w + 'px';
  const r = a.getBoundingClientRect();
  tip.style.left = Math.max(8, Math.min(r.left - 12, window.innerWidth - w - 8)) + 'px';
  let top = r.bottom + 6;
  const h = tip.offsetHeight;
  if (top + h > window.innerHeight - 8 && r.top - h - 6 > 8) top = r.top - h - 6;
  tip.style.top = top + 'px';
  a.setAttribute('aria-describedby', 'cite-tip');
};
const hideTip = () => { tip.hidden = true; };
element.addEventListener('mouseover', (ev) => {
  const a = inChat(ev, 'a.cite');
  if (a) showTip(a);
});
element.addEventListener('mouseout', (ev) => {
  const a = inChat(ev, 'a.cite');
  if (a && !a.contains(ev.relatedTarget)) hideTip();
});
element.addEventListener('focusin', (ev) => { const a = inChat(ev, 'a.cite'); if (a) showTip(a); });
element.addEventListener('focusout', hideTip);
window.addEventListener('scroll', hideTip, true);

// -- [n] goes to its quote among the sources of the same answer ------------------------
const flash = (el) => {
  if (!el) return;
  el.classList.remove('flash');
  void el.offsetWidth;
  el.classList.add('flash');
  setTimeout(() => el.classList.remove('flash'), 2200);
};
const goTo = (id) => {
  const t = doc.getElementById(id);
  if (!t || !element.contains(t)) return;
  const d = t.closest('details');
  if (d) d.open = true;
  t.scrollIntoView({ block: 'center', behavior: 'smooth' });
  flash(t.closest('mark'));
  flash(t.closest('.card'));
};

// -- the whole article in a dialog, scrolled to the quote ------------------------------
let modal = doc.getElementById('doc-modal');
if (!modal) {
  modal = doc.createElement('div');
  modal.id = 'doc-modal';
  modal.className = 'doc-modal';
  modal.hidden = true;
  modal.innerHTML = '<div class="doc-backdrop" data-close="1"></div>' +
    '<div class="doc-dialog" role="dialog" aria-modal="true" aria-labelledby="doc-title">' +
    '<button type="button" class="doc-close" data-close="1" aria-label="Close">×</button>' +
    '<div class="doc-body"></div></div>';
  doc.body.appendChild(modal);
}
const docBody = modal.querySelector('.doc-body');
let opener = null;
const closeDoc = () => {
  modal.hidden = true;
  doc.body.classList.remove('doc-open');
  if (opener) opener.focus();
};
modal.addEventListener('click', (ev) => {
  if (ev.target.dataset && ev.target.dataset.close) closeDoc();
});
doc.addEventListener('keydown', (ev) => { if (ev.key === 'Escape' && !modal.hidden) closeDoc(); });
const openDoc = async (b) => {
  opener = b;
  docBody.innerHTML = '<p class="pending">Opening the article…</p>';
  modal.hidden = false;
  doc.body.classList.add('doc-open');
  modal.querySelector('.doc-close').focus();
  try {
    docBody.innerHTML = await server.article({
      doc_id: b.dataset.doc, spans: JSON.parse(b.dataset.spans || '[]'),
      focus: Number(b.dataset.focus || 0),
    });
    const m = docBody.querySelector('mark.focus') || docBody.querySelector('mark');
    if (m) m.scrollIntoView({ block: 'center' });
  } catch (e) {
    docBody.innerHTML = '<div class="note error" role="alert">The article could not be ' +
      'opened. Reload the page and try again.</div>';
  }
};

element.addEventListener('click', (ev) => {
  const a = inChat(ev, 'a.cite');
  if (a) { ev.preventDefault(); hideTip(); goTo(a.getAttribute('href').slice(1)); return; }
  const b = inChat(ev, 'button.open-doc');
  if (b) { ev.preventDefault(); openDoc(b); }
});

// -- a new question: scroll the chat to it, and keep it there while its answer streams in
// (until the reader scrolls the chat themselves) ----------------------------------------
let seen = element.querySelectorAll('.turn').length;
let pinned = null;
const unpin = () => { pinned = null; };
element.addEventListener('wheel', unpin, { passive: true });
element.addEventListener('touchmove', unpin, { passive: true });
element.addEventListener('keydown', unpin);
element.addEventListener('pointerdown', unpin);
watch('value', () => {
  const turns = element.querySelectorAll('.turn');
  const box = element.querySelector('.chat');
  if (!box) return;
  if (turns.length > seen) {
    pinned = turns[turns.length - 1];
    const r = box.getBoundingClientRect();
    if (r.top < 0 || r.top > window.innerHeight * 0.5) window.scrollBy({ top: r.top - 12 });
  } else if (turns.length < seen) {
    pinned = null;
  }
  seen = turns.length;
  if (pinned && element.contains(pinned)) {
    const want = Math.max(0, pinned.offsetTop - 8);
    if (Math.abs(box.scrollTop - want) > 2) box.scrollTop = want;
  }
});
"""

# Hovering a sentence highlights its card and the other way round (event delegation on the
# component, so it keeps working when the result is replaced).
CHECK_JS = """
const link = (ev, on) => {
  const t = ev.target.closest ? ev.target.closest('[data-n]') : null;
  if (!t || !element.contains(t)) return;
  element.querySelectorAll('[data-n="' + t.dataset.n + '"]')
    .forEach((x) => x.classList.toggle('linked', on));
};
element.addEventListener('mouseover', (ev) => link(ev, true));
element.addEventListener('mouseout', (ev) => link(ev, false));
element.addEventListener('focusin', (ev) => link(ev, true));
element.addEventListener('focusout', (ev) => link(ev, false));
"""

CSS = """
.gradio-container { max-width: 1120px !important; margin: auto; }
/* Gradio scopes media queries to the app's content, so rules for the page around it (and for
   the dialog and tooltip in <body>) adapt with clamp() instead. */
.gradio-container .main.app { padding-left: clamp(10px, 4vw, 32px) !important;
                              padding-right: clamp(10px, 4vw, 32px) !important; }
#title h1 { margin-bottom: 0; } #title p { margin-top: 4px; color: var(--body-text-color-subdued); }

/* -- chat -------------------------------------------------------------------------- */
.chat { position: relative; display: flex; flex-direction: column; gap: 14px;
        min-height: 300px; max-height: max(380px, calc(100vh - 300px)); overflow-y: auto;
        overscroll-behavior: contain; padding: 14px; border: 1px solid var(--border-color-primary);
        border-radius: 12px; background: var(--background-fill-secondary); }
.chat.empty { justify-content: center; color: var(--body-text-color-subdued); text-align: center; }
.turn { display: flex; flex-direction: column; gap: 6px; scroll-margin-top: 8px; }
.msg { display: flex; } .msg.user { justify-content: flex-end; }
.msg .bubble { padding: 10px 14px; border-radius: 12px; line-height: 1.55; min-width: 0;
               overflow-wrap: anywhere; }
.msg.user .bubble { background: var(--color-accent-soft); max-width: 85%; }
.msg.bot .bubble { background: var(--background-fill-primary); width: 100%;
                   border: 1px solid var(--border-color-primary); }
.msg.bot.abstained .bubble { border-left: 4px solid #d97706; }
.msg.bot.premise .bubble { border-left: 4px solid #2563eb; }
.msg.bot.error .bubble { border-left: 4px solid #dc2626; }
.answer { margin: 0 0 4px 0; }
.note { display: flex; flex-direction: column; gap: 2px; margin-bottom: 6px; }
.note.abstain b { color: #b45309; } .dark .note.abstain b { color: #fbbf24; }
.note.premise b { color: #1d4ed8; } .dark .note.premise b { color: #93c5fd; }
.note.premise span { color: var(--body-text-color-subdued); font-size: 0.92em; }
.note.error { padding: 8px 12px; border-radius: 8px; border: 1px solid #dc2626;
              background: rgba(220, 38, 38, 0.10); color: var(--body-text-color); }
.muted { color: var(--body-text-color-subdued); margin: 4px 0; }
.rewritten { text-align: right; font-size: 0.85em; color: var(--body-text-color-subdued); }
.meta { font-size: 0.78em; color: var(--body-text-color-subdued); margin-top: 8px; }
.pending { color: var(--body-text-color-subdued); font-style: italic; }
a.cite { text-decoration: none; font-weight: 600; font-size: 0.8em; vertical-align: super;
         line-height: 0; color: var(--color-accent); padding: 0 1px; cursor: pointer;
         white-space: nowrap; }
a.cite:hover, a.cite:focus-visible { text-decoration: underline; }
.cite-tip { position: fixed; z-index: 1000; box-sizing: border-box; padding: 9px 11px;
            border-radius: 8px; background: #1f2937; color: #f9fafb; font-size: 13px;
            line-height: 1.45;
            box-shadow: 0 6px 18px rgba(0, 0, 0, 0.3); pointer-events: none; }
.cite-tip[hidden] { display: none; }
.dark .cite-tip { background: #0b1220; border: 1px solid #4b5563; }
.cite-tip span { display: block; }
.cite-tip .tip-title { font-weight: 600; }
.cite-tip .tip-meta { color: #cbd5e1; font-size: 0.92em; margin-bottom: 5px; }
.cite-tip .tip-ctx { color: #e5e7eb; }
.cite-tip .tip-here { color: #fde68a; font-weight: 600; white-space: nowrap; }

/* -- source cards (under each answer) ----------------------------------------------- */
.sources { margin-top: 10px; border-top: 1px solid var(--border-color-primary); padding-top: 8px; }
.sources-head, .sources summary { font-size: 0.8em; font-weight: 600; text-transform: uppercase;
                                  letter-spacing: 0.04em; color: var(--body-text-color-subdued);
                                  margin-bottom: 6px; cursor: default; }
.sources summary { cursor: pointer; text-transform: none; letter-spacing: 0; font-size: 0.88em; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(300px, 100%), 1fr));
         gap: 10px; align-items: start; }
.card { border: 1px solid var(--border-color-primary); border-radius: 10px; padding: 10px 12px;
        background: var(--background-fill-secondary); scroll-margin: 80px; min-width: 0; }
.card.flash { outline: 2px solid var(--color-accent); }
.card.closest .num { background: var(--body-text-color-subdued); }
.card-head { display: flex; flex-wrap: wrap; align-items: baseline; gap: 4px 6px;
             margin-bottom: 6px; }
.card .num { background: var(--color-accent); color: white; border-radius: 6px;
             padding: 0 6px; font-weight: 700; font-size: 0.8em; }
.src-title { font-weight: 600; }
.src-outlet { font-size: 0.85em; color: var(--body-text-color-subdued); }
.src-doc { font-size: 0.75em; color: var(--body-text-color-subdued); font-family: monospace;
           margin-left: auto; overflow-wrap: anywhere; }
.passage { font-size: 0.9em; line-height: 1.55; color: var(--body-text-color);
           overflow-wrap: anywhere; }
.passage .gap { color: var(--body-text-color-subdued); }
mark, .passage mark { background: #fde68a; color: #111827; padding: 0 2px; border-radius: 3px;
                      box-decoration-break: clone; -webkit-box-decoration-break: clone; }
.dark mark { background: #facc15; color: #111827; }
mark.flash { outline: 2px solid #d97706; background: #fcd34d; }
.qn { display: inline-block; font-size: 0.72em; font-weight: 700; color: #fff;
      background: #b45309; border-radius: 4px; padding: 0 4px; margin-right: 3px;
      line-height: 1.3; vertical-align: 1px; scroll-margin: 90px; }
.card-foot { margin-top: 8px; }
button.open-doc { font-size: 0.85em; color: var(--color-accent); background: none; border: none;
                  padding: 0; cursor: pointer; text-decoration: underline;
                  text-underline-offset: 2px; }
button.open-doc:hover { opacity: 0.8; }

/* -- the article dialog (in <body>: sized with clamp(), see above) --------------------- */
.doc-modal { position: fixed; inset: 0; z-index: 1001; display: flex; align-items: center;
             justify-content: center; }
.doc-modal[hidden] { display: none; }
.doc-backdrop { position: absolute; inset: 0; background: rgba(0, 0, 0, 0.5); }
.doc-dialog { position: relative; width: min(840px, calc(100vw - 16px));
              max-height: calc(100vh - clamp(16px, 6vw, 48px)); display: flex;
              flex-direction: column;
              background: var(--background-fill-primary); color: var(--body-text-color);
              border-radius: 12px; box-shadow: 0 12px 40px rgba(0, 0, 0, 0.35); }
.doc-close { position: absolute; top: 6px; right: 8px; width: 36px; height: 36px; font-size: 24px;
             line-height: 1; border: none; border-radius: 8px; background: transparent;
             color: var(--body-text-color); cursor: pointer; z-index: 1; }
.doc-close:hover { background: var(--background-fill-secondary); }
.doc-body { display: flex; flex-direction: column; min-height: 0; flex: 1 1 auto; }
.doc-body > .pending, .doc-body > .note { margin: 16px 56px 16px 24px; }
.doc-head { padding: 14px 52px 10px clamp(14px, 4vw, 24px);
            border-bottom: 1px solid var(--border-color-primary); }
.doc-hint { font-size: 0.82em; color: var(--body-text-color-subdued); margin-top: 4px; }
.doc-head h2 { margin: 0 0 2px 0; font-size: clamp(1.05em, 4.2vw, 1.25em); line-height: 1.3; }
.doc-meta { color: var(--body-text-color-subdued); font-size: 0.88em; }
.doc-text { white-space: pre-wrap; line-height: 1.7; overflow-wrap: anywhere; overflow-y: auto;
            padding: 12px clamp(14px, 4vw, 24px) 28px clamp(14px, 4vw, 24px); min-height: 0; }
.doc-text mark.p { background: rgba(250, 204, 21, 0.25); color: inherit; }
.doc-text mark.focus { outline: 2px solid #d97706; }
body.doc-open { overflow: hidden; }

/* -- library ------------------------------------------------------------------------ */
#lib-count p { margin: 0; }
.lib-msg { padding: 10px 14px; border-radius: 10px; border: 1px solid var(--border-color-primary);
           background: var(--background-fill-secondary); color: var(--body-text-color); }
.lib-msg.ok { border-color: #16a34a; background: rgba(22, 163, 74, 0.10); }
.lib-msg.error { border-color: #dc2626; background: rgba(220, 38, 38, 0.10); }
.lib-msg.mixed { border-color: #d97706; background: rgba(217, 119, 6, 0.10); }
.lib-msg ul { margin: 6px 0 0 0; padding: 0; list-style: none; }
.lib-msg li { margin: 2px 0; overflow-wrap: anywhere; }
.lib-msg .mark { display: inline-block; width: 1.3em; font-weight: 700; }
.lib-msg li.ok .mark { color: #16a34a; } .lib-msg li.bad .mark { color: #dc2626; }
.lib-head { font-weight: 600; }
.lib-sum { margin-top: 6px; font-size: 0.85em; color: var(--body-text-color-subdued); }
#lib-msg .html-container, #documents .html-container { padding: 0 !important; }
.docs { overflow-x: auto; border: 1px solid var(--border-color-primary); border-radius: 10px; }
.docs.empty { padding: 12px; color: var(--body-text-color-subdued); }
.docs-table { width: 100%; border-collapse: collapse; font-size: 0.92em; margin: 0 !important;
              border: none !important; }
.docs-table thead, .docs-table tr, .docs-table th, .docs-table td { border: none !important; }
.docs-table tbody tr td { border-top: 1px solid var(--border-color-primary) !important; }
.docs-table .d-unit { display: none; }
.docs-table th { text-align: left; font-weight: 600; padding: 8px 10px;
                 background: var(--background-fill-secondary);
                 border-bottom: 1px solid var(--border-color-primary); }
.docs-table td { padding: 7px 10px; border: none; vertical-align: top; }
.docs-table .d-title { font-weight: 600; }
.docs-table .d-outlet, .docs-table .d-date { color: var(--body-text-color-subdued); }
.docs-table .d-chunks { text-align: right; white-space: nowrap; }
.docs-table .d-file { font-family: var(--font-mono, monospace); font-size: 0.88em;
                      color: var(--body-text-color-subdued); overflow-wrap: anywhere; }
#del-yes { background: #dc2626; border-color: #dc2626; color: #fff; }
#del-yes:hover { background: #b91c1c; }
#delete-confirm { border: 1px solid #dc2626 !important; }
#delete-confirm p { margin: 0 0 4px 0; }

/* -- check a text -------------------------------------------------------------------- */
.check.empty { color: var(--body-text-color-subdued); padding: 12px; }
.chk-summary { display: flex; flex-wrap: wrap; align-items: baseline; gap: 4px 8px;
               margin: 4px 0 10px 0; font-size: 1.05em; }
.chk-legend { margin-left: auto; font-size: 0.85em; color: var(--body-text-color-subdued); }
.chk-legend .chk-s { margin-right: 6px; padding: 1px 6px;
                     color: var(--body-text-color) !important; }
.chk-grid { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: 16px;
            align-items: start; }
@media (max-width: 900px) { .chk-grid { grid-template-columns: minmax(0, 1fr); } }
.chk-text { white-space: pre-wrap; line-height: 1.9; padding: 12px 14px;
            border: 1px solid var(--border-color-primary); border-radius: 12px;
            background: var(--background-fill-secondary); color: var(--body-text-color); }
.chk-s { color: inherit !important; text-decoration: none !important; border-radius: 4px;
         padding: 1px 2px; box-decoration-break: clone; -webkit-box-decoration-break: clone;
         scroll-margin: 80px; }
.chk-s.ok { background: rgba(22, 163, 74, 0.16); border-bottom: 2px solid #16a34a; }
.chk-s.bad { background: rgba(220, 38, 38, 0.14); border-bottom: 2px solid #dc2626; }
.chk-s.ok.linked, .chk-s.ok:target { background: rgba(22, 163, 74, 0.34); }
.chk-s.bad.linked, .chk-s.bad:target { background: rgba(220, 38, 38, 0.30); }
.chk-n { font-weight: 700; font-size: 0.75em; margin-left: 2px; }
.chk-s.ok .chk-n { color: #15803d; } .chk-s.bad .chk-n { color: #b91c1c; }
.dark .chk-s.ok .chk-n { color: #4ade80; } .dark .chk-s.bad .chk-n { color: #f87171; }
.chk-cards { max-height: 70vh; overflow-y: auto; padding: 2px; }
.chk-card { margin-bottom: 10px; background: var(--background-fill-primary); }
.chk-card.ok { border-left: 4px solid #16a34a; } .chk-card.bad { border-left: 4px solid #dc2626; }
.chk-card.linked, .chk-card:target { outline: 2px solid var(--color-accent); }
.chk-card.ok.linked { outline-color: #16a34a; } .chk-card.bad.linked { outline-color: #dc2626; }
.chk-card .num { text-decoration: none; }
.chk-card.ok .num { background: #16a34a; } .chk-card.bad .num { background: #dc2626; }
.verdict { font-weight: 600; font-size: 0.85em; }
.verdict.ok { color: #15803d; } .verdict.bad { color: #b91c1c; }
.dark .verdict.ok { color: #4ade80; } .dark .verdict.bad { color: #f87171; }
.chk-score { font-size: 0.75em; color: var(--body-text-color-subdued); margin-left: auto; }
.chk-reason { font-size: 0.88em; font-style: italic; color: var(--body-text-color);
              margin-bottom: 6px; }
.chk-label { font-size: 0.75em; text-transform: uppercase; letter-spacing: 0.04em;
             color: var(--body-text-color-subdued); margin-bottom: 2px; }
.chk-error { padding: 10px 14px; border-radius: 10px; border: 1px solid #dc2626;
             background: rgba(220, 38, 38, 0.10); color: var(--body-text-color); }

/* -- phones --------------------------------------------------------------------------- */
@media (max-width: 640px) {
  #chat .html-container { padding-left: 0 !important; padding-right: 0 !important; }
  .chat { padding: 8px; max-height: max(360px, calc(100dvh - 250px)); }
  .msg .bubble { padding: 9px 11px; }
  .msg.user .bubble { max-width: 92%; }
  .src-doc { margin-left: 0; }
  .docs-table thead { display: none; }
  .docs-table tr { display: block; padding: 8px 10px; }
  .docs-table tbody tr td { border-top: none !important; }
  .docs-table tbody tr + tr { border-top: 1px solid var(--border-color-primary) !important; }
  .docs-table td { display: inline; padding: 0; border: none; }
  .docs-table td.d-title { display: block; }
  .docs-table td.d-outlet:not(:empty)::after, .docs-table td.d-date:not(:empty)::after {
    content: " · "; }
  .docs-table td.d-chunks { text-align: left; }
  .docs-table td.d-chunks::after { content: " · "; }
  .docs-table .d-unit { display: inline; }
}
"""
