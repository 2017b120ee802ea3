/*
 * omni Pixel: page views, custom events, identify, and consent-aware
 * capture of phone and email fields from submitted forms.
 *
 *   <script async src="https://SHOP/omni/px/omni.js"
 *           data-pixel-key="px_..."></script>
 *
 * Calls made before it loads wait in a one-line queue:
 *   window.omni=window.omni||function(){(omni.q=omni.q||[]).push(arguments)};
 */
(function (w, d) {
  'use strict';

  if (w.omni && w.omni.loaded) {
    return;
  }

  var script = d.currentScript ||
      d.querySelector('script[src*="/px/omni.js"]');
  var src = script ? script.src : '';
  var base = src.slice(0, src.indexOf('/px/omni.js')) || '/omni';
  var key = script && script.getAttribute('data-pixel-key');
  var consent = 'none';          /* 'required' | 'granted' | 'denied' */
  var kept = [];                 /* held until consent, or a tick */
  var pending = [];
  var flushTimer = null;
  var MAX_EVENTS = 20;
  var MAX_BYTES = 16384;

  /*
   * The first-party visitor id: read at once, but written to the device
   * only when a beacon is sent, so that a page waiting for consent (or
   * refused it) leaves no identifier behind.
   */
  function storedVid() {
    var m = d.cookie.match(/(?:^|; )_omni_vid=([A-Za-z0-9_-]{1,64})/);
    var found = m ? m[1] : null;
    try {
      found = found || w.localStorage.getItem('_omni_vid');
    } catch (e) { /* storage blocked */ }
    return found && /^[A-Za-z0-9_-]{1,64}$/.test(found) ? found : null;
  }

  function newVid() {
    var bytes = new Uint8Array(16);
    w.crypto.getRandomValues(bytes);
    return btoa(String.fromCharCode.apply(null, bytes))
      .replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
      .slice(0, 22);
  }

  function keepVid(days) {
    d.cookie = '_omni_vid=' + vid + '; path=/; max-age=' + days * 86400
      + '; SameSite=Lax';
    try {
      if (days) {
        w.localStorage.setItem('_omni_vid', vid);
      } else {
        w.localStorage.removeItem('_omni_vid');
      }
    } catch (e) { /* storage blocked */ }
    vidKept = days > 0;
  }

  var vid = storedVid() || newVid();
  var vidKept = false;

  function event(name, extra) {
    var ev = {
      ev: name, vid: vid, url: location.href, ref: d.referrer, ts: Date.now()
    };
    for (var k in extra) {
      if (extra[k] !== undefined && extra[k] !== null && extra[k] !== '') {
        ev[k] = extra[k];
      }
    }
    return ev;
  }

  // url and ref go last: when a query must be cut to fit 8,000 characters,
  // only the end of the page's address is lost, never the time, the phone,
  // the email or the props
  function gif(ev) {
    var q = ['ev', 'vid', 'ts', 'ph', 'em'].filter(function (k) {
      return ev[k] !== undefined;
    }).map(function (k) {
      return k + '=' + encodeURIComponent(String(ev[k]));
    });
    var props = ev.props || {};
    for (var p in props) {
      q.push('p.' + encodeURIComponent(p) + '=' +
             encodeURIComponent(String(props[p]).slice(0, 512)));
    }
    ['url', 'ref'].forEach(function (k) {
      if (ev[k] !== undefined) {
        q.push(k + '=' + encodeURIComponent(String(ev[k]).slice(0, 2048)));
      }
    });
    // a cut never leaves half of a %XX escape behind
    var s = q.join('&').slice(0, 8000).replace(/%[0-9A-Fa-f]?$/, '');
    new Image().src = base + '/px/' + key + '.gif?' + s;
  }

  function send(batch) {
    var body = JSON.stringify(batch);
    var sent = false;
    if (!vidKept) {
      keepVid(730);
    }
    if (navigator.sendBeacon && body.length <= MAX_BYTES) {
      try {
        sent = navigator.sendBeacon(base + '/px/' + key, body);
      } catch (e) {
        sent = false;
      }
    }
    if (!sent) {
      batch.forEach(gif);
    }
  }

  function flush() {
    flushTimer = null;
    while (pending.length) {
      send(pending.splice(0, MAX_EVENTS));
    }
  }

  function queue(ev) {
    if (!key || consent === 'denied') {
      return;
    }
    if (consent === 'required') {
      kept.push(ev);
      return;
    }
    pending.push(ev);
    if (!flushTimer) {
      flushTimer = setTimeout(flush, 0);
    }
  }

  function ignored(el) {
    return !!(el.closest && el.closest('[data-omni-ignore]'));
  }

  /* only phone and email inputs; never passwords or hidden fields */
  function fieldKind(el) {
    var type = (el.getAttribute('type') || '').toLowerCase();
    if (type === 'password' || type === 'hidden' || ignored(el)) {
      return null;
    }
    var hint = [el.getAttribute('autocomplete'), el.name, el.id]
      .join(' ').toLowerCase();
    if (type === 'tel' || /\btel\b|phone|mobile|whatsapp/.test(hint)) {
      return 'ph';
    }
    if (type === 'email' || /e-?mail/.test(hint)) {
      return 'em';
    }
    return null;
  }

  function onSubmit(e) {
    try {
      var form = e.target;
      if (!form || !form.elements || ignored(form)) {
        return;
      }
      var found = {};
      Array.prototype.forEach.call(form.elements, function (el) {
        var kind = el.tagName === 'INPUT' && fieldKind(el);
        var value = kind && String(el.value || '').trim();
        if (value && !found[kind]) {
          found[kind] = value.slice(0, kind === 'ph' ? 64 : 254);
        }
      });
      if (found.ph || found.em) {
        queue(event('form_submit', {
          ph: found.ph, em: found.em,
          props: { form: form.id || form.getAttribute('name') || '' }
        }));
        flush();
      }
    } catch (err) { /* never break the shop's page */ }
  }

  var api = {
    init: function (k) { key = k; },
    track: function (name, props) {
      queue(event(String(name), { props: props || {} }));
    },
    identify: function (who) {
      who = who || {};
      queue(event('identify', { ph: who.phone, em: who.email }));
    },
    consent: function (state) {
      consent = state;
      if (state === 'granted') {
        consent = 'none';
        kept.splice(0).forEach(queue);
        flush();
      } else if (state === 'denied') {
        kept = [];
        keepVid(0);
      }
    },
    flush: flush
  };

  function call(args) {
    try {
      var fn = api[args[0]];
      if (fn) {
        fn.apply(null, Array.prototype.slice.call(args, 1));
      }
    } catch (e) { /* never break the shop's page */ }
  }

  var queued = (w.omni && w.omni.q) || [];
  w.omni = function () { call(arguments); };
  w.omni.loaded = true;

  /* consent and init first: they decide what happens to the rest */
  queued.filter(function (a) { return a[0] === 'consent' || a[0] === 'init'; })
    .forEach(call);
  d.addEventListener('submit', onSubmit, true);
  queue(event('pageview', {}));
  queued.filter(function (a) { return a[0] !== 'consent' && a[0] !== 'init'; })
    .forEach(call);
  w.addEventListener('pagehide', flush);
})(window, document);
