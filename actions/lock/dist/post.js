"use strict";

// src/post.ts
var import_node_fs = require("node:fs");

// ../../node_modules/openapi-fetch/dist/index.mjs
var PATH_PARAM_RE = /\{[^{}]+\}/g;
var supportsRequestInitExt = () => {
  return typeof process === "object" && Number.parseInt(process?.versions?.node?.substring(0, 2)) >= 18 && process.versions.undici;
};
function randomID() {
  return Math.random().toString(36).slice(2, 11);
}
function createClient(clientOptions) {
  let {
    baseUrl = "",
    Request: CustomRequest = globalThis.Request,
    fetch: baseFetch = globalThis.fetch,
    querySerializer: globalQuerySerializer,
    bodySerializer: globalBodySerializer,
    pathSerializer: globalPathSerializer,
    headers: baseHeaders,
    requestInitExt = void 0,
    ...baseOptions
  } = { ...clientOptions };
  requestInitExt = supportsRequestInitExt() ? requestInitExt : void 0;
  baseUrl = removeTrailingSlash(baseUrl);
  const globalMiddlewares = [];
  async function coreFetch(schemaPath, fetchOptions) {
    const {
      baseUrl: localBaseUrl,
      fetch = baseFetch,
      Request = CustomRequest,
      headers,
      params = {},
      parseAs = "json",
      querySerializer: requestQuerySerializer,
      bodySerializer = globalBodySerializer ?? defaultBodySerializer,
      pathSerializer: requestPathSerializer,
      body,
      middleware: requestMiddlewares = [],
      ...init
    } = fetchOptions || {};
    let finalBaseUrl = baseUrl;
    if (localBaseUrl) {
      finalBaseUrl = removeTrailingSlash(localBaseUrl) ?? baseUrl;
    }
    let querySerializer = typeof globalQuerySerializer === "function" ? globalQuerySerializer : createQuerySerializer(globalQuerySerializer);
    if (requestQuerySerializer) {
      querySerializer = typeof requestQuerySerializer === "function" ? requestQuerySerializer : createQuerySerializer({
        ...typeof globalQuerySerializer === "object" ? globalQuerySerializer : {},
        ...requestQuerySerializer
      });
    }
    const pathSerializer = requestPathSerializer || globalPathSerializer || defaultPathSerializer;
    const serializedBody = body === void 0 ? void 0 : bodySerializer(
      body,
      // Note: we declare mergeHeaders() both here and below because it’s a bit of a chicken-or-egg situation:
      // bodySerializer() needs all headers so we aren’t dropping ones set by the user, however,
      // the result of this ALSO sets the lowest-priority content-type header. So we re-merge below,
      // setting the content-type at the very beginning to be overwritten.
      // Lastly, based on the way headers work, it’s not a simple “present-or-not” check becauase null intentionally un-sets headers.
      mergeHeaders(baseHeaders, headers, params.header)
    );
    const finalHeaders = mergeHeaders(
      // with no body, we should not to set Content-Type
      serializedBody === void 0 || // if serialized body is FormData; browser will correctly set Content-Type & boundary expression
      serializedBody instanceof FormData ? {} : {
        "Content-Type": "application/json"
      },
      baseHeaders,
      headers,
      params.header
    );
    const finalMiddlewares = [...globalMiddlewares, ...requestMiddlewares];
    const requestInit = {
      redirect: "follow",
      ...baseOptions,
      ...init,
      body: serializedBody,
      headers: finalHeaders
    };
    let id;
    let options;
    let request = new Request(
      createFinalURL(schemaPath, { baseUrl: finalBaseUrl, params, querySerializer, pathSerializer }),
      requestInit
    );
    let response;
    for (const key in init) {
      if (!(key in request)) {
        request[key] = init[key];
      }
    }
    if (finalMiddlewares.length) {
      id = randomID();
      options = Object.freeze({
        baseUrl: finalBaseUrl,
        fetch,
        parseAs,
        querySerializer,
        bodySerializer,
        pathSerializer
      });
      for (const m of finalMiddlewares) {
        if (m && typeof m === "object" && typeof m.onRequest === "function") {
          const result = await m.onRequest({
            request,
            schemaPath,
            params,
            options,
            id
          });
          if (result) {
            if (result instanceof Request) {
              request = result;
            } else if (result instanceof Response) {
              response = result;
              break;
            } else {
              throw new Error("onRequest: must return new Request() or Response() when modifying the request");
            }
          }
        }
      }
    }
    if (!response) {
      try {
        response = await fetch(request, requestInitExt);
      } catch (error22) {
        let errorAfterMiddleware = error22;
        if (finalMiddlewares.length) {
          for (let i = finalMiddlewares.length - 1; i >= 0; i--) {
            const m = finalMiddlewares[i];
            if (m && typeof m === "object" && typeof m.onError === "function") {
              const result = await m.onError({
                request,
                error: errorAfterMiddleware,
                schemaPath,
                params,
                options,
                id
              });
              if (result) {
                if (result instanceof Response) {
                  errorAfterMiddleware = void 0;
                  response = result;
                  break;
                }
                if (result instanceof Error) {
                  errorAfterMiddleware = result;
                  continue;
                }
                throw new Error("onError: must return new Response() or instance of Error");
              }
            }
          }
        }
        if (errorAfterMiddleware) {
          throw errorAfterMiddleware;
        }
      }
      if (finalMiddlewares.length) {
        for (let i = finalMiddlewares.length - 1; i >= 0; i--) {
          const m = finalMiddlewares[i];
          if (m && typeof m === "object" && typeof m.onResponse === "function") {
            const result = await m.onResponse({
              request,
              response,
              schemaPath,
              params,
              options,
              id
            });
            if (result) {
              if (!(result instanceof Response)) {
                throw new Error("onResponse: must return new Response() when modifying the response");
              }
              response = result;
            }
          }
        }
      }
    }
    const contentLength = response.headers.get("Content-Length");
    if (response.status === 204 || request.method === "HEAD" || contentLength === "0" && !response.headers.get("Transfer-Encoding")?.includes("chunked")) {
      return response.ok ? { data: void 0, response } : { error: void 0, response };
    }
    if (response.ok) {
      const getResponseData = async () => {
        if (parseAs === "stream") {
          return response.body;
        }
        if (parseAs === "json" && !contentLength) {
          const raw = await response.text();
          return raw ? JSON.parse(raw) : void 0;
        }
        return await response[parseAs]();
      };
      return { data: await getResponseData(), response };
    }
    let error2 = await response.text();
    try {
      error2 = JSON.parse(error2);
    } catch {
    }
    return { error: error2, response };
  }
  return {
    request(method, url, init) {
      return coreFetch(url, { ...init, method: method.toUpperCase() });
    },
    /** Call a GET endpoint */
    GET(url, init) {
      return coreFetch(url, { ...init, method: "GET" });
    },
    /** Call a PUT endpoint */
    PUT(url, init) {
      return coreFetch(url, { ...init, method: "PUT" });
    },
    /** Call a POST endpoint */
    POST(url, init) {
      return coreFetch(url, { ...init, method: "POST" });
    },
    /** Call a DELETE endpoint */
    DELETE(url, init) {
      return coreFetch(url, { ...init, method: "DELETE" });
    },
    /** Call a OPTIONS endpoint */
    OPTIONS(url, init) {
      return coreFetch(url, { ...init, method: "OPTIONS" });
    },
    /** Call a HEAD endpoint */
    HEAD(url, init) {
      return coreFetch(url, { ...init, method: "HEAD" });
    },
    /** Call a PATCH endpoint */
    PATCH(url, init) {
      return coreFetch(url, { ...init, method: "PATCH" });
    },
    /** Call a TRACE endpoint */
    TRACE(url, init) {
      return coreFetch(url, { ...init, method: "TRACE" });
    },
    /** Register middleware */
    use(...middleware) {
      for (const m of middleware) {
        if (!m) {
          continue;
        }
        if (typeof m !== "object" || !("onRequest" in m || "onResponse" in m || "onError" in m)) {
          throw new Error("Middleware must be an object with one of `onRequest()`, `onResponse() or `onError()`");
        }
        globalMiddlewares.push(m);
      }
    },
    /** Unregister middleware */
    eject(...middleware) {
      for (const m of middleware) {
        const i = globalMiddlewares.indexOf(m);
        if (i !== -1) {
          globalMiddlewares.splice(i, 1);
        }
      }
    }
  };
}
function serializePrimitiveParam(name, value, options) {
  if (value === void 0 || value === null) {
    return "";
  }
  if (typeof value === "object") {
    throw new Error(
      "Deeply-nested arrays/objects aren\u2019t supported. Provide your own `querySerializer()` to handle these."
    );
  }
  return `${name}=${options?.allowReserved === true ? value : encodeURIComponent(value)}`;
}
function serializeObjectParam(name, value, options) {
  if (!value || typeof value !== "object") {
    return "";
  }
  const values = [];
  const joiner = {
    simple: ",",
    label: ".",
    matrix: ";"
  }[options.style] || "&";
  if (options.style !== "deepObject" && options.explode === false) {
    for (const k in value) {
      values.push(k, options.allowReserved === true ? value[k] : encodeURIComponent(value[k]));
    }
    const final2 = values.join(",");
    switch (options.style) {
      case "form": {
        return `${name}=${final2}`;
      }
      case "label": {
        return `.${final2}`;
      }
      case "matrix": {
        return `;${name}=${final2}`;
      }
      default: {
        return final2;
      }
    }
  }
  for (const k in value) {
    const finalName = options.style === "deepObject" ? `${name}[${k}]` : k;
    values.push(serializePrimitiveParam(finalName, value[k], options));
  }
  const final = values.join(joiner);
  return options.style === "label" || options.style === "matrix" ? `${joiner}${final}` : final;
}
function serializeArrayParam(name, value, options) {
  if (!Array.isArray(value)) {
    return "";
  }
  if (options.explode === false) {
    const joiner2 = { form: ",", spaceDelimited: "%20", pipeDelimited: "|" }[options.style] || ",";
    const final = (options.allowReserved === true ? value : value.map((v) => encodeURIComponent(v))).join(joiner2);
    switch (options.style) {
      case "simple": {
        return final;
      }
      case "label": {
        return `.${final}`;
      }
      case "matrix": {
        return `;${name}=${final}`;
      }
      // case "spaceDelimited":
      // case "pipeDelimited":
      default: {
        return `${name}=${final}`;
      }
    }
  }
  const joiner = { simple: ",", label: ".", matrix: ";" }[options.style] || "&";
  const values = [];
  for (const v of value) {
    if (options.style === "simple" || options.style === "label") {
      values.push(options.allowReserved === true ? v : encodeURIComponent(v));
    } else {
      values.push(serializePrimitiveParam(name, v, options));
    }
  }
  return options.style === "label" || options.style === "matrix" ? `${joiner}${values.join(joiner)}` : values.join(joiner);
}
function createQuerySerializer(options) {
  return function querySerializer(queryParams) {
    const search = [];
    if (queryParams && typeof queryParams === "object") {
      for (const name in queryParams) {
        const value = queryParams[name];
        if (value === void 0 || value === null) {
          continue;
        }
        if (Array.isArray(value)) {
          if (value.length === 0) {
            continue;
          }
          search.push(
            serializeArrayParam(name, value, {
              style: "form",
              explode: true,
              ...options?.array,
              allowReserved: options?.allowReserved || false
            })
          );
          continue;
        }
        if (typeof value === "object") {
          search.push(
            serializeObjectParam(name, value, {
              style: "deepObject",
              explode: true,
              ...options?.object,
              allowReserved: options?.allowReserved || false
            })
          );
          continue;
        }
        search.push(serializePrimitiveParam(name, value, options));
      }
    }
    return search.join("&");
  };
}
function defaultPathSerializer(pathname, pathParams) {
  let nextURL = pathname;
  for (const match of pathname.match(PATH_PARAM_RE) ?? []) {
    let name = match.substring(1, match.length - 1);
    let explode = false;
    let style = "simple";
    if (name.endsWith("*")) {
      explode = true;
      name = name.substring(0, name.length - 1);
    }
    if (name.startsWith(".")) {
      style = "label";
      name = name.substring(1);
    } else if (name.startsWith(";")) {
      style = "matrix";
      name = name.substring(1);
    }
    if (!pathParams || pathParams[name] === void 0 || pathParams[name] === null) {
      continue;
    }
    const value = pathParams[name];
    if (Array.isArray(value)) {
      nextURL = nextURL.replace(match, serializeArrayParam(name, value, { style, explode }));
      continue;
    }
    if (typeof value === "object") {
      nextURL = nextURL.replace(match, serializeObjectParam(name, value, { style, explode }));
      continue;
    }
    if (style === "matrix") {
      nextURL = nextURL.replace(match, `;${serializePrimitiveParam(name, value)}`);
      continue;
    }
    nextURL = nextURL.replace(match, style === "label" ? `.${encodeURIComponent(value)}` : encodeURIComponent(value));
  }
  return nextURL;
}
function defaultBodySerializer(body, headers) {
  if (body instanceof FormData) {
    return body;
  }
  if (headers) {
    const contentType = headers.get instanceof Function ? headers.get("Content-Type") ?? headers.get("content-type") : headers["Content-Type"] ?? headers["content-type"];
    if (contentType === "application/x-www-form-urlencoded") {
      return new URLSearchParams(body).toString();
    }
  }
  return JSON.stringify(body);
}
function createFinalURL(pathname, options) {
  let finalURL = `${options.baseUrl}${pathname}`;
  if (options.params?.path) {
    finalURL = options.pathSerializer(finalURL, options.params.path);
  }
  let search = options.querySerializer(options.params.query ?? {});
  if (search.startsWith("?")) {
    search = search.substring(1);
  }
  if (search) {
    finalURL += `?${search}`;
  }
  return finalURL;
}
function mergeHeaders(...allHeaders) {
  const finalHeaders = new Headers();
  for (const h of allHeaders) {
    if (!h || typeof h !== "object") {
      continue;
    }
    const iterator = h instanceof Headers ? h.entries() : Object.entries(h);
    for (const [k, v] of iterator) {
      if (v === null) {
        finalHeaders.delete(k);
      } else if (Array.isArray(v)) {
        for (const v2 of v) {
          finalHeaders.append(k, v2);
        }
      } else if (v !== void 0) {
        finalHeaders.set(k, v);
      }
    }
  }
  return finalHeaders;
}
function removeTrailingSlash(url) {
  if (url.endsWith("/")) {
    return url.substring(0, url.length - 1);
  }
  return url;
}

// ../../packages/client/src/sfp-client.ts
var SfpHttpError = class extends Error {
  constructor(status, body, message) {
    super(message);
    this.status = status;
    this.body = body;
    this.name = "SfpHttpError";
  }
  status;
  body;
  /** Why a ticket ended, on the 409 of an acquire, renew or release of an ended ticket. */
  get releaseReason() {
    const reason = this.body?.releaseReason;
    return typeof reason === "string" ? reason : null;
  }
};
var SfpUnavailableError = class extends Error {
  constructor(message, lastStatus) {
    super(message);
    this.lastStatus = lastStatus;
    this.name = "SfpUnavailableError";
  }
  lastStatus;
};
var RETRYABLE_STATUSES = /* @__PURE__ */ new Set([429, 502, 503, 504]);
var BACKOFF_FIRST_MS = 250;
var BACKOFF_MAX_MS = 5e3;
var RETRY_AFTER_MAX_MS = 3e4;
var MAX_WAIT_SECONDS = 60;
var SfpClient = class {
  constructor(options) {
    this.options = options;
    this.retryForMs = options.retryForMs ?? 3e4;
    this.attemptTimeoutMs = options.attemptTimeoutMs ?? 3e4;
    this.clockOffsetMs = options.clockOffsetMs ?? 0;
    this.api = createClient({
      baseUrl: options.url.replace(/\/+$/, ""),
      headers: {
        authorization: `Bearer ${options.token}`,
        ...options.userAgent ? { "user-agent": options.userAgent } : {}
      }
    });
  }
  options;
  api;
  retryForMs;
  attemptTimeoutMs;
  /** Server clock minus local clock, from the last answer's Date header (±1 s). */
  clockOffsetMs;
  get url() {
    return this.options.url;
  }
  /** The server's clock now, as far as the last answer told (to read its lease times). */
  serverNow() {
    return Date.now() + this.clockOffsetMs;
  }
  /** Server clock minus local clock, from the last answer. */
  get clockOffset() {
    return this.clockOffsetMs;
  }
  /** Queues a ticket. With the same `idempotencyKey` a retried call returns the same ticket. */
  queue(body, idempotencyKey, opts = {}) {
    return this.call(
      opts,
      0,
      (signal) => this.api.POST("/sfp/api/locks", { body, params: { header: { "Idempotency-Key": idempotencyKey } }, signal })
    );
  }
  list(lock, opts = {}) {
    return this.call(
      opts,
      0,
      (signal) => this.api.GET("/sfp/api/locks/{repository}/{resource}", { params: { path: lock }, signal })
    );
  }
  status(lock, ticketId, opts = {}) {
    return this.call(
      opts,
      0,
      (signal) => this.api.GET("/sfp/api/locks/{repository}/{resource}/{ticketId}", { params: { path: { ...lock, ticketId } }, signal })
    );
  }
  /** Long-polls up to `waitSeconds` (≤ 60) for the grant; 409 (SfpHttpError) once the ticket has ended. */
  acquire(lock, ticketId, waitSeconds, opts = {}) {
    const wait = Math.max(0, Math.min(MAX_WAIT_SECONDS, Math.floor(waitSeconds)));
    return this.call(
      opts,
      wait * 1e3,
      (signal) => this.api.POST("/sfp/api/locks/{repository}/{resource}/{ticketId}/acquire", {
        params: { path: { ...lock, ticketId }, query: { waitSeconds: wait } },
        signal
      })
    );
  }
  /** Extends the holder's lease from now; 409 (SfpHttpError) if the ticket no longer holds the lock. */
  renew(lock, ticketId, leaseDurationSeconds, opts = {}) {
    return this.call(
      opts,
      0,
      (signal) => this.api.POST("/sfp/api/locks/{repository}/{resource}/{ticketId}/renew", {
        params: { path: { ...lock, ticketId } },
        body: leaseDurationSeconds === void 0 ? {} : { leaseDurationSeconds },
        signal
      })
    );
  }
  /** Releases a held ticket, or leaves the queue; 409 (SfpHttpError) if it had already ended. */
  release(lock, ticketId, opts = {}) {
    return this.call(
      opts,
      0,
      (signal) => this.api.DELETE("/sfp/api/locks/{repository}/{resource}/{ticketId}", { params: { path: { ...lock, ticketId } }, signal })
    );
  }
  /** Force-clears the holder and every waiter (owners and applications). */
  clear(lock, opts = {}) {
    return this.call(
      opts,
      0,
      (signal) => this.api.DELETE("/sfp/api/locks/{repository}/{resource}", { params: { path: lock }, signal })
    );
  }
  /** One logical call: attempts until an answer that is not worth retrying, or the budget ends. */
  async call(opts, serverWaitMs, attempt) {
    const retryUntil = opts.retryUntil ?? Date.now() + this.retryForMs;
    for (let n = 0; ; n++) {
      opts.signal?.throwIfAborted();
      const timeout = AbortSignal.timeout(serverWaitMs + (opts.attemptTimeoutMs ?? this.attemptTimeoutMs));
      const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
      let failure2;
      let status = null;
      let retryAfterMs = 0;
      try {
        const { data, error: error2, response } = await attempt(signal);
        this.noteServerClock(response);
        if (response.ok) return data;
        status = response.status;
        const message = messageOf(error2) ?? `${response.status} ${response.statusText}`.trim();
        if (!RETRYABLE_STATUSES.has(response.status)) throw new SfpHttpError(response.status, error2, message);
        failure2 = `the server answered ${response.status}: ${message}`;
        retryAfterMs = retryAfterOf(response);
      } catch (err) {
        if (err instanceof SfpHttpError) throw err;
        if (opts.signal?.aborted) throw opts.signal.reason;
        failure2 = `cannot reach the server at ${this.options.url}: ${networkReason(err)}`;
      }
      const backoff = Math.random() * Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** n);
      const delay = Math.max(backoff, Math.min(retryAfterMs, RETRY_AFTER_MAX_MS));
      if (Date.now() + delay > retryUntil) throw new SfpUnavailableError(failure2, status);
      await sleep(delay, opts.signal);
    }
  }
  noteServerClock(response) {
    const date = Date.parse(response.headers.get("date") ?? "");
    if (Number.isFinite(date)) this.clockOffsetMs = date + 500 - Date.now();
  }
};
function messageOf(body) {
  if (typeof body === "string") return body.trim() || void 0;
  const message = body?.message;
  if (Array.isArray(message)) return message.join("; ");
  return typeof message === "string" ? message : void 0;
}
function retryAfterOf(response) {
  const header = response.headers.get("retry-after");
  if (!header) return 0;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1e3);
  const at = Date.parse(header);
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : 0;
}
function networkReason(err) {
  const e = err;
  if (e?.name === "TimeoutError") return "no answer in time";
  return e?.cause?.message ?? e?.cause?.code ?? e?.message ?? String(err);
}
function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

// ../../packages/client/src/durations.ts
var UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86400 };
function parseDuration(text) {
  const trimmed = text.trim().toLowerCase();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return positive(Number(trimmed));
  if (!/^(\d+(\.\d+)?[smhd])+$/.test(trimmed)) return null;
  let seconds = 0;
  for (const [, amount, , unit] of trimmed.matchAll(/(\d+(\.\d+)?)([smhd])/g)) seconds += Number(amount) * UNIT_SECONDS[unit];
  return positive(seconds);
}
function positive(seconds) {
  return Number.isFinite(seconds) && seconds > 0 ? seconds : null;
}
function formatDuration(ms) {
  if (ms < 1e3) return `${Math.max(0, Math.round(ms))}ms`;
  let s = Math.round(ms / 1e3);
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  const parts = d ? [`${d}d`, `${h}h`] : h ? [`${h}h`, `${m}m`] : m ? [`${m}m`, `${s}s`] : [`${s}s`];
  return parts.filter((p, i) => i === 0 || !/^0/.test(p)).join(" ");
}

// ../../packages/client/src/wait-progress.ts
function lockName(lock) {
  return `${lock.repository} ${lock.resource}`;
}

// ../../packages/client/src/queue-target.ts
function targetLock(repository, target) {
  return { repository, resource: "pool" in target ? target.pool : target.resources[0] };
}

// src/action-runtime.ts
var import_node_os = require("node:os");
function input(name) {
  return (process.env[`INPUT_${name.replace(/ /g, "_").toUpperCase()}`] ?? "").trim();
}
function requiredInput(name) {
  const value = input(name);
  if (!value) throw new ActionFailure(`input '${name}' is required`);
  return value;
}
function getState(name) {
  return process.env[`STATE_${name}`] ?? "";
}
function info(message) {
  process.stdout.write(`${message}${import_node_os.EOL}`);
}
function error(message) {
  process.stdout.write(`::error::${escapeData(message)}${import_node_os.EOL}`);
}
function mask(secret) {
  process.stdout.write(`::add-mask::${escapeData(secret)}${import_node_os.EOL}`);
}
function escapeData(text) {
  return text.replace(/%/g, "%25").replace(/\r/g, "%0D").replace(/\n/g, "%0A");
}
var ActionFailure = class extends Error {
};
function runStep(body) {
  body().then(
    () => process.exit(process.exitCode ?? 0),
    (err) => {
      error(err instanceof ActionFailure ? err.message : `queue-mutex: ${err?.message ?? String(err)}`);
      process.exit(1);
    }
  );
}

// src/action-settings.ts
var DEFAULT_LEASE = "15m";
function readSettings() {
  const token = requiredInput("token");
  const url = requiredInput("url");
  if (!/^https?:\/\/[^/]/.test(url)) throw new ActionFailure(`input 'url' must be an http:// or https:// URL, not '${url}'`);
  const repository = requiredInput("repository");
  const target = targetInput();
  return {
    url,
    token,
    lock: targetLock(repository, target),
    target,
    leaseSeconds: duration("lease", input("lease") || DEFAULT_LEASE),
    waitTimeoutSeconds: input("wait-timeout") ? duration("wait-timeout", input("wait-timeout")) : null,
    reason: input("reason")
  };
}
function targetInput() {
  const resources = input("resource").split("\n").map((r) => r.trim()).filter(Boolean);
  const pool = input("pool").trim();
  if (pool && resources.length > 0) throw new ActionFailure("give input 'resource' or 'pool', not both");
  if (pool) {
    const count = Number(input("count") || "1");
    if (!Number.isInteger(count) || count < 1) throw new ActionFailure(`input 'count' must be a whole number of at least 1, not '${input("count")}'`);
    return { pool, count };
  }
  if (resources.length === 0) throw new ActionFailure("input 'resource' is required (or 'pool')");
  return { resources };
}
function duration(name, text) {
  const seconds = parseDuration(text);
  if (seconds === null) throw new ActionFailure(`input '${name}' must be a duration (seconds, or e.g. 90s, 15m, 2h), not '${text}'`);
  return seconds;
}
function clientFor(s, clockOffsetMs) {
  return new SfpClient({ url: s.url, token: s.token, userAgent: "queue-mutex-action/0.1.0", clockOffsetMs });
}
var STATE = {
  ticket: "ticket",
  acquired: "acquired",
  renewerPid: "renewerPid",
  renewerLog: "renewerLog"
};
function failure(err) {
  if (err instanceof SfpHttpError && (err.status === 401 || err.status === 403)) return new ActionFailure(`the service refused the key (${err.status}): ${err.message}`);
  if (err instanceof SfpHttpError) return new ActionFailure(`the service answered ${err.status}: ${err.message}`);
  if (err instanceof SfpUnavailableError) return new ActionFailure(err.message);
  return err;
}

// src/post.ts
runStep(async () => {
  const ticketId = getState(STATE.ticket);
  if (!ticketId) {
    info("No ticket was queued: nothing to release.");
    return;
  }
  const s = readSettings();
  mask(s.token);
  const acquired = getState(STATE.acquired) === "true";
  const client = clientFor(s);
  const released = await client.release(s.lock, ticketId).catch((err) => err);
  const renewerPid = Number(getState(STATE.renewerPid));
  if (renewerPid > 0) await stopRenewer(renewerPid);
  if (!(released instanceof Error)) {
    const held = released.leaseStart ? ` after holding it ${formatDuration(Date.parse(released.releasedAt ?? "") - Date.parse(released.leaseStart))}` : "";
    info(acquired ? `Released ${lockName(s.lock)}${held}.` : `Left the queue for ${lockName(s.lock)} (ticket ${ticketId}).`);
    return;
  }
  if (!(released instanceof SfpHttpError && released.status === 409)) throw failure(released);
  if (!acquired) {
    info(`Ticket ${ticketId} had already ended (${released.releaseReason}).`);
    return;
  }
  const lost = renewerEvents(getState(STATE.renewerLog)).find((e) => e.event === "lost");
  throw new ActionFailure(
    `the lease on ${lockName(s.lock)} was lost while the job ran (${released.releaseReason})${lost?.message ? `: ${lost.message}` : ""}; later steps ran without the lock`
  );
});
async function stopRenewer(pid) {
  const cmdline = `/proc/${pid}/cmdline`;
  if (process.platform === "linux" && (!(0, import_node_fs.existsSync)(cmdline) || !(0, import_node_fs.readFileSync)(cmdline, "utf8").includes("renewer.js"))) return;
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    return;
  }
  for (let waited = 0; waited < 5e3; waited += 50) {
    if (exited(pid)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  try {
    process.kill(pid, "SIGKILL");
  } catch {
  }
}
function exited(pid) {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  if (process.platform !== "linux") return false;
  try {
    const stat = (0, import_node_fs.readFileSync)(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return true;
  }
}
function renewerEvents(log) {
  if (!log || !(0, import_node_fs.existsSync)(log)) return [];
  return (0, import_node_fs.readFileSync)(log, "utf8").split("\n").filter((line) => line.startsWith("{")).map((line) => {
    try {
      return JSON.parse(line);
    } catch {
      return null;
    }
  }).filter((e) => e !== null);
}
