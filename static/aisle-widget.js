/* Aisle chat widget. Embed with one tag:
 *   <script src="https://your-aisle-host/static/aisle-widget.js" data-key="PUBLISHABLE_KEY"
 *     data-customer="CUSTOMER_ID" data-expires="UNIX_SECONDS" data-signature="HMAC_HEX" data-lang="zh" defer></script>
 * data-key is the shop's publishable API key (card clicks are recorded with it). data-customer is optional: a
 * signed-in shopper's id, with the shop backend's signature of it (HMAC-SHA256 over "CUSTOMER_ID:EXPIRES" with the
 * shop's identity secret, hex) and its expiry; an unsigned or bad claim chats as an anonymous visitor. data-lang is
 * the page's language (the chat answers in it until the shopper writes in another); the server sends the labels.
 * Look: data-color (the accent, a CSS colour), data-position ("left" or "right"), data-title (the panel's title).
 * data-cart="on" shows an "Add to basket" button on cards in stock; it fires the DOM event `aisle:add-to-cart`
 * on `document` with `detail: { product, variant, quantity, title, price }` for the page to put in its basket.
 * A product with variants (the shop's `family`) has a picker on its card: the picture, link, price, stock and the
 * basket's `variant` follow the choice; a variant out of stock cannot be chosen.
 * A card's title links to the product's page with `aisle_source=chat` added (and the click is recorded).
 * JavaScript API, once loaded: `Aisle.open()`, `Aisle.close()`, `Aisle.identify({ customer, expires, signature })`
 * (a shopper who signs in on the page: the chat reconnects as them), `Aisle.on(name, fn)` for "open", "close",
 * "message" ({ role, text }), "cards" ({ products }), "click" ({ product, url }) and "add-to-cart" (as the event).
 * All text is inserted with textContent: nothing from the model or the shopper is parsed as HTML; links and
 * pictures are only http(s) addresses or paths on the page's own site. */
(function () {
  'use strict';
  const script = document.currentScript;
  const origin = new URL(script.src, location.href);
  const wsUrl = (origin.protocol === 'https:' ? 'wss://' : 'ws://') + origin.host + '/ws';
  let customer = (script.dataset.customer || '').trim();
  let expires = Number(script.dataset.expires || 0) || undefined;
  let signature = (script.dataset.signature || '').trim() || undefined;
  const cart = script.dataset.cart === 'on';
  const accent = (script.dataset.color || '').trim();
  const position = script.dataset.position === 'left' ? 'left' : 'right';
  const key = (script.dataset.key || '').trim();
  const lang = (script.dataset.lang || document.documentElement.lang || '').trim().toLowerCase().split('-')[0];
  // the labels, in English until the server sends the conversation's language's
  const L = {
    ask_us: 'Ask us', title: 'Shop assistant', close: 'Close', rate_prompt: 'How did we do?',
    rate_label: 'Rate this conversation', message: 'Message', placeholder: 'What are you looking for?', send: 'Send',
    suggested: 'Suggested replies', staff: 'shop staff', colleague: 'A colleague',
    asked: 'A colleague has been asked to join this chat.',
    asked_sorry: 'Sorry I could not help. A colleague has been asked to join this chat.',
    joined: '{name} from our team has joined the chat.', back: 'You are back with the shop assistant.',
    thanks: 'Thank you for rating this chat.', sold_out: 'Out of stock', add_to_cart: 'Add to basket', added: 'Added',
    options: 'Options',
  };
  let storeKey = 'aisle.session.' + (customer || 'visitor');
  const listeners = {};
  function emit(name, detail) { for (const fn of listeners[name] || []) { try { fn(detail); } catch (e) { console.warn('aisle:', e); } } }

  const host = document.createElement('div');
  host.id = 'aisle-widget';
  document.body.appendChild(host);
  const root = host.attachShadow({ mode: 'open' });
  root.innerHTML = `
<style>
  :host { all: initial; --accent: #0f6b5c; }
  * { box-sizing: border-box; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; }
  .launch { position: fixed; right: 18px; bottom: 18px; z-index: 2147483000; background: var(--accent); color: #fff;
    border: 0; border-radius: 24px; padding: 12px 18px; font-size: 15px; box-shadow: 0 4px 16px rgba(0,0,0,.2); cursor: pointer; }
  .panel { position: fixed; right: 18px; bottom: 18px; z-index: 2147483001; width: 380px; max-width: calc(100vw - 20px);
    height: 580px; max-height: calc(100vh - 30px); background: #fff; border-radius: 14px; display: none; flex-direction: column;
    box-shadow: 0 8px 30px rgba(0,0,0,.25); overflow: hidden; color: #1d2430; font-size: 15px; }
  .panel.open { display: flex; }
  @media (max-width: 480px) { .panel { right: 0; bottom: 0; width: 100vw; max-width: 100vw; height: 100vh; max-height: 100vh; border-radius: 0; } }
  .head { background: var(--accent); color: #fff; padding: 10px 14px; display: flex; justify-content: space-between; align-items: center; }
  .head button { background: transparent; color: #fff; border: 0; font-size: 20px; cursor: pointer; }
  .log { flex: 1; overflow-y: auto; padding: 12px; display: flex; flex-direction: column; gap: 8px; background: #f6f7f5; }
  .msg { max-width: 85%; padding: 8px 11px; border-radius: 12px; line-height: 1.4; white-space: pre-wrap; word-wrap: break-word; }
  .shopper { align-self: flex-end; background: var(--accent); color: #fff; }
  .launch.left, .panel.left { right: auto; left: 18px; }
  .assistant { align-self: flex-start; background: #fff; border: 1px solid #e3e6ea; }
  .staff { align-self: flex-start; background: #fff7e6; border: 1px solid #f0d9a8; }
  .staff .who { display: block; font-size: 12px; color: #8a5a00; font-weight: 600; }
  .note { align-self: center; font-size: 13px; color: #8a3b12; }
  .chips { display: flex; flex-wrap: wrap; gap: 6px; align-self: stretch; }
  .chips button { background: #fff; color: var(--accent); border: 1px solid var(--accent); border-radius: 14px; padding: 4px 10px;
    font-size: 13px; cursor: pointer; }
  .rate { display: none; gap: 4px; align-items: center; padding: 6px 10px; border-top: 1px solid #e3e6ea; font-size: 13px; color: #5b6675; }
  .rate.show { display: flex; }
  .rate button { background: #fff; border: 1px solid #c9ced6; border-radius: 6px; padding: 2px 8px; cursor: pointer; font-size: 13px; }
  .cards { display: flex; gap: 8px; overflow-x: auto; padding-bottom: 4px; align-self: stretch; }
  .card { flex: 0 0 170px; background: #fff; border: 1px solid #e3e6ea; border-radius: 10px; padding: 9px; font-size: 13px; }
  .card .title { font-weight: 600; margin-bottom: 3px; }
  .card .price { color: var(--accent); font-weight: 600; }
  .card img { width: 100%; height: 110px; object-fit: contain; border-radius: 6px; margin-bottom: 6px; background: #fafafa; }
  .card .title a { color: inherit; text-decoration: underline; text-underline-offset: 2px; }
  .card .add { margin-top: 6px; width: 100%; background: var(--accent); color: #fff; border: 0; border-radius: 6px; padding: 5px; font-size: 13px; cursor: pointer; }
  .card .reason { color: #5b6675; margin-top: 4px; }
  .card .sold-out { color: #9a3412; font-weight: 600; margin-top: 3px; }
  .card .options { width: 100%; margin-top: 5px; font-size: 12px; }
  form { display: flex; gap: 6px; padding: 10px; border-top: 1px solid #e3e6ea; }
  input { flex: 1; padding: 9px 10px; border: 1px solid #c9ced6; border-radius: 8px; font-size: 15px; }
  form button { background: var(--accent); color: #fff; border: 0; border-radius: 8px; padding: 0 14px; font-size: 15px; cursor: pointer; }
  form button:disabled { opacity: .5; }
</style>
<button class="launch" type="button" aria-haspopup="dialog">Ask us</button>
<section class="panel" role="dialog" aria-label="Shop assistant">
  <div class="head"><strong class="title">Shop assistant</strong><button type="button" class="close" aria-label="Close">×</button></div>
  <div class="log" role="log" aria-live="polite"></div>
  <div class="rate" role="group" aria-label="Rate this conversation"><span class="prompt">How did we do?</span>
    <button type="button" data-score="1" aria-label="1 of 5, bad">1</button><button type="button" data-score="2" aria-label="2 of 5">2</button>
    <button type="button" data-score="3" aria-label="3 of 5">3</button><button type="button" data-score="4" aria-label="4 of 5">4</button>
    <button type="button" data-score="5" aria-label="5 of 5, good">5</button></div>
  <form><label hidden for="aisle-input">Message</label>
    <input id="aisle-input" autocomplete="off" maxlength="2000" placeholder="What are you looking for?">
    <button type="submit">Send</button></form>
</section>`;
  const $ = (sel) => root.querySelector(sel);
  const panel = $('.panel'), log = $('.log'), input = $('input'), send = $('form button');
  if (accent && window.CSS && CSS.supports('color', accent)) host.style.setProperty('--accent', accent);
  if (position === 'left') { panel.classList.add('left'); $('.launch').classList.add('left'); }
  const title = (script.dataset.title || '').trim();
  let ws = null, current = null, busy = false, retry = 0, verified = '';
  function labels(l) {
    if (!l) return;
    Object.assign(L, l);
    if (title) L.title = title;
    $('.launch').textContent = L.ask_us; panel.setAttribute('aria-label', L.title); $('.title').textContent = L.title;
    $('.close').setAttribute('aria-label', L.close); $('.rate').setAttribute('aria-label', L.rate_label);
    $('.prompt').textContent = L.rate_prompt; $('label').textContent = L.message;
    input.placeholder = L.placeholder; send.textContent = L.send;
    host.dataset.lang = l.lang || host.dataset.lang || '';
  }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function scroll() { log.scrollTop = log.scrollHeight; }
  function say(role, text, who) {
    const m = el('div', 'msg ' + role, who ? undefined : text);
    if (who) { m.appendChild(el('span', 'who', who + ' (' + L.staff + ')')); m.appendChild(document.createTextNode(text)); }
    log.appendChild(m); scroll(); return m;
  }
  const rate = $('.rate');
  for (const b of rate.querySelectorAll('button')) {
    b.onclick = () => { if (ws && ws.readyState === 1) ws.send(JSON.stringify({ type: 'csat', score: Number(b.dataset.score) })); };
  }
  function chips(options) {
    for (const old of log.querySelectorAll('.chips')) old.remove();
    if (!options || !options.length || host.dataset.handoff === 'staff') return;
    const row = el('div', 'chips'); row.setAttribute('role', 'group'); row.setAttribute('aria-label', L.suggested);
    for (const o of options) {
      const b = el('button', '', o); b.type = 'button';
      b.onclick = () => { if (!busy) { input.value = o; $('form').requestSubmit(); } };
      row.appendChild(b);
    }
    log.appendChild(row); scroll();
  }
  function handoff(state, name, reason) {
    host.dataset.handoff = state;
    if (state === 'waiting') note(reason === 'repeated_failure' ? L.asked_sorry : L.asked);
    if (state === 'staff') note(L.joined.replace('{name}', name || L.colleague));
    if (state === 'assistant') note(L.back);
  }
  function note(text) { say('note', text); }
  // a link or picture address: http(s) anywhere, or a path on the page's own site; nothing else is used
  function address(u) {
    if (!u) return null;
    try { const a = new URL(u, location.href); return a.protocol === 'https:' || a.protocol === 'http:' ? a : null; } catch (_) { return null; }
  }
  function cards(products) {
    if (!products || !products.length) return;
    const row = el('div', 'cards');
    for (const p of products) {
      const c = el('article', 'card');
      c.dataset.product = p.id;
      c.tabIndex = 0;
      c.onclick = () => track('chat_recommendation_clicked', p.id);
      c.onkeydown = (e) => { if (e.key === 'Enter') track('chat_recommendation_clicked', p.id); };
      // the variant shown: the card's own product, or the one picked from its options
      let v = { id: p.id, price: p.price, price_label: p.price_label, in_stock: p.in_stock, image: p.image, url: p.url };
      const i = el('img'); i.alt = ''; i.loading = 'lazy';
      const t = el('div', 'title');
      const price = el('div', 'price');
      const soldOut = el('div', 'sold-out', L.sold_out);
      const b = el('button', 'add', L.add_to_cart); b.type = 'button';
      const show = () => {
        c.dataset.variant = v.id;
        const img = address(v.image || p.image);
        if (img) { i.src = img.href; if (!i.parentNode) c.prepend(i); } else i.remove();
        const page = address(v.url || p.url);
        t.replaceChildren();
        if (page) {
          page.searchParams.set('aisle_source', 'chat');
          const a = el('a', '', p.title); a.href = page.href; a.target = '_top';
          a.onclick = () => emit('click', { product: v.id, url: a.href });
          t.appendChild(a);
        } else t.textContent = p.title;
        price.textContent = v.price_label;
        c.classList.toggle('out-of-stock', v.in_stock === false);
        soldOut.hidden = v.in_stock !== false;
        b.hidden = v.in_stock === false; b.disabled = false; b.textContent = L.add_to_cart;
      };
      c.append(t, price, soldOut);
      if (p.options && p.options.length > 1) {
        const pick = el('select', 'options'); pick.setAttribute('aria-label', L.options);
        for (const o of p.options) {
          const opt = el('option', '', o.label + (o.in_stock === false ? ' (' + L.sold_out + ')' : ''));
          opt.value = o.id; opt.disabled = o.in_stock === false && o.id !== p.id;
          pick.appendChild(opt);
        }
        pick.onclick = (e) => e.stopPropagation();
        pick.onchange = () => { v = p.options.find(o => o.id === pick.value) || v; show(); };
        c.appendChild(pick);
      }
      c.appendChild(el('div', 'reason', p.reason));
      if (cart) {
        b.onclick = (e) => {
          e.stopPropagation();
          const detail = { product: p.id, variant: v.id, quantity: 1, title: p.title, price: v.price };
          document.dispatchEvent(new CustomEvent('aisle:add-to-cart', { detail }));
          emit('add-to-cart', detail);
          track('add_to_cart', v.id);
          b.textContent = L.added; b.disabled = true;
        };
        c.appendChild(b);
      }
      show();
      row.appendChild(c);
    }
    log.appendChild(row); scroll();
    emit('cards', { products });
  }
  function setBusy(b) { busy = b; send.disabled = b; }
  // behaviour events: a click on a card is remembered for the shopper's profile
  function track(kind, product) {
    if (!key || !host.dataset.session) return;
    const user = verified || ('session:' + host.dataset.session);
    const id = (crypto.randomUUID && crypto.randomUUID()) || (Date.now() + '-' + Math.random());
    const headers = { 'content-type': 'application/json', 'x-aisle-key': key };
    if (verified) headers['x-aisle-identity'] = verified + '.' + expires + '.' + signature;
    fetch(origin.origin + '/api/events', { method: 'POST', headers, keepalive: true, body: JSON.stringify({ event_id: id, user, product, kind }) })
      .then(async (r) => { if (!r.ok) console.warn('aisle: event not recorded:', r.status, (await r.json().catch(() => ({}))).error); })
      .catch((e) => console.warn('aisle: event not recorded:', e));
  }

  function connect() {
    ws = new WebSocket(wsUrl);
    ws.onopen = () => {
      retry = 0;
      ws.send(JSON.stringify({ type: 'hello', session_id: localStorage.getItem(storeKey) || undefined,
        customer: customer || undefined, expires, signature, lang: lang || undefined }));
    };
    ws.onmessage = (ev) => {
      let f; try { f = JSON.parse(ev.data); } catch (_) { return; }
      switch (f.type) {
        case 'session':
          verified = f.customer || '';
          localStorage.setItem(storeKey, f.session_id);
          host.dataset.session = f.session_id;
          labels(Object.assign({ lang: f.lang }, f.labels));
          if (f.resumed && !log.childElementCount) {
            for (const t of f.history) { say(t.role, t.text, t.role === 'staff' ? t.author : undefined); cards(t.cards); }
          }
          break;
        case 'holdout':
          // this visitor is in an experiment's holdout: the shop without the assistant
          host.hidden = true; host.dataset.holdout = f.experiment || 'holdout';
          ws.onclose = null; ws.close(); break;
        case 'cards': cards(f.products); break;
        case 'lang': labels(Object.assign({ lang: f.lang }, f.labels)); break;
        case 'delta':
          if (!current) { current = say('assistant', ''); current.dataset.chunks = '0'; }
          current.textContent += f.text;
          current.dataset.chunks = String(Number(current.dataset.chunks) + 1);
          scroll(); break;
        case 'replace':
          if (!current) current = say('assistant', '');
          current.textContent = f.text; current.dataset.replaced = 'true'; break;
        case 'done':
          if (current) { current.dataset.done = 'true'; emit('message', { role: 'assistant', text: current.textContent }); }
          current = null; setBusy(false);
          if (!rate.dataset.done) rate.classList.add('show');
          break;
        case 'chips': chips(f.options); break;
        case 'handoff': handoff(f.state, f.name, f.reason); if (f.state === 'staff') chips([]); break;
        case 'staff_message': say('staff', f.text, f.name); break;
        case 'sent_to_staff': setBusy(false); break;
        case 'csat_saved':
          rate.dataset.done = 'true'; rate.classList.remove('show'); note(L.thanks); break;
        case 'error':
          if (f.code === 'identity_refused') console.warn('aisle:', f.message);
          else if (f.code !== 'unknown_session') note(f.message);
          if (f.code !== 'busy') setBusy(false);
          break;
      }
    };
    ws.onclose = (ev) => {
      setBusy(false); current = null;
      // closed for being quiet: reconnect when the shopper writes again, not now
      if (ev.code === 4000) { ws = null; return; }
      setTimeout(connect, Math.min(10000, 500 * 2 ** retry++));
    };
  }

  function open() { panel.classList.add('open'); $('.launch').hidden = true; input.focus(); if (!ws) connect(); emit('open', {}); }
  function close() { panel.classList.remove('open'); $('.launch').hidden = false; emit('close', {}); }
  $('.launch').onclick = open;
  $('.close').onclick = close;
  root.addEventListener('keydown', (e) => { if (e.key === 'Escape') $('.close').click(); });
  $('form').onsubmit = (e) => {
    e.preventDefault();
    const text = input.value.trim();
    if (text && !ws) { connect(); ws.addEventListener('open', () => setTimeout(() => $('form').requestSubmit(), 50), { once: true }); return; }
    if (!text || busy || !ws || ws.readyState !== 1) return;
    chips([]); say('shopper', text); input.value = ''; setBusy(true);
    ws.send(JSON.stringify({ type: 'message', text }));
    emit('message', { role: 'shopper', text });
  };

  window.Aisle = {
    open, close,
    // a shopper who signed in on the page: the chat starts again as them (their signed id, as data-customer)
    identify(who) {
      customer = String((who && who.customer) || '').trim();
      expires = Number((who && who.expires) || 0) || undefined;
      signature = String((who && who.signature) || '').trim() || undefined;
      storeKey = 'aisle.session.' + (customer || 'visitor');
      verified = '';
      if (ws) { const old = ws; ws = null; old.onclose = null; old.close(); log.textContent = ''; connect(); }
    },
    on(name, fn) { (listeners[name] = listeners[name] || []).push(fn); },
  };
  document.dispatchEvent(new CustomEvent('aisle:ready'));
})();
