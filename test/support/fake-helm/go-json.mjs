/**
 * Go's encoding/json, time and duration formats as Helm 3 shows them, for the FAKE `helm`: a
 * release is marshalled field by field in the order of Helm's structs (pkg/release/release.go,
 * info.go, pkg/chart/chart.go, metadata.go, file.go) with their `omitempty` rules, maps with
 * their keys sorted bytewise, strings HTML-escaped (`<` → `\u003c`) and `[]byte` as base64, so
 * the JSON stored in a release Secret and printed by `-o json` is byte-for-byte Helm's shape.
 * Helm's own time type (pkg/time) writes a zero time as `""`; times are RFC 3339 with
 * nanoseconds in local time (`2024-05-01T10:00:00.123456789Z`).
 */

const HTML_UNSAFE = /[<>&\u2028\u2029]/g;

/** A Go JSON string: JSON escaping plus encoding/json's HTML-safe escapes. */
export function goString(s) {
  return JSON.stringify(String(s)).replace(HTML_UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * A Go JSON number. Go prints float64 with the shortest round-trip digits and switches to an
 * exponent below 1e-6 and from 1e21 on, as JavaScript does, and both write `1e-7`, `1e+21`.
 */
export function goNumber(n) {
  if (typeof n === 'bigint') return n.toString();
  if (!Number.isFinite(n)) throw new Error(`json: unsupported value: ${n}`);
  return JSON.stringify(n);
}

/** Go orders map keys by their UTF-8 bytes. */
export function byteOrder(a, b) {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** A `map[string]interface{}` value (or anything inside one). */
export function goValue(v) {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'string') return goString(v);
  if (typeof v === 'number' || typeof v === 'bigint') return goNumber(v);
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(goValue).join(',')}]`;
  return `{${Object.keys(v).sort(byteOrder).map((k) => `${goString(k)}:${goValue(v[k])}`).join(',')}}`;
}

/** A Go struct: `fields` are `[jsonName, encoded | undefined]`, undefined being an omitted field. */
function struct(fields) {
  return `{${fields.filter(([, v]) => v !== undefined).map(([k, v]) => `${goString(k)}:${v}`).join(',')}}`;
}

const str = (s) => goString(s ?? '');
const omitStr = (s) => (s ? goString(s) : undefined);
const omitList = (l, enc) => (Array.isArray(l) && l.length > 0 ? `[${l.map(enc).join(',')}]` : undefined);
const nullableList = (l, enc) => (Array.isArray(l) && l.length > 0 ? `[${l.map(enc).join(',')}]` : 'null');
const isMap = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);

/** pkg/chart/file.go: `{name, data}` with data as base64 (`[]byte`). */
function encodeFile(f) {
  return struct([['name', str(f.name)], ['data', f.data === undefined || f.data === null ? 'null' : goString(f.data)]]);
}

/** pkg/chart/metadata.go `Metadata`, every field `omitempty`. */
function encodeMetadata(m) {
  if (!m) return 'null';
  return struct([
    ['name', omitStr(m.name)],
    ['home', omitStr(m.home)],
    ['sources', omitList(m.sources, str)],
    ['version', omitStr(m.version)],
    ['description', omitStr(m.description)],
    ['keywords', omitList(m.keywords, str)],
    ['maintainers', omitList(m.maintainers, (x) => struct([['name', omitStr(x?.name)], ['email', omitStr(x?.email)], ['url', omitStr(x?.url)]]))],
    ['icon', omitStr(m.icon)],
    ['apiVersion', omitStr(m.apiVersion)],
    ['condition', omitStr(m.condition)],
    ['tags', omitStr(m.tags)],
    ['appVersion', omitStr(m.appVersion)],
    ['deprecated', m.deprecated ? 'true' : undefined],
    ['annotations', isMap(m.annotations) && Object.keys(m.annotations).length > 0 ? goValue(m.annotations) : undefined],
    ['kubeVersion', omitStr(m.kubeVersion)],
    ['type', omitStr(m.type)],
  ]);
}

/** pkg/chart/chart.go `Chart`: no `omitempty`, so empty parts are `null`. */
function encodeChart(c) {
  return struct([
    ['metadata', encodeMetadata(c.metadata)],
    ['lock', 'null'],
    ['templates', nullableList(c.templates, encodeFile)],
    ['values', isMap(c.values) ? goValue(c.values) : 'null'],
    ['schema', c.schema === undefined || c.schema === null ? 'null' : goString(c.schema)],
    ['files', nullableList(c.files, encodeFile)],
  ]);
}

/** pkg/release/info.go `Info`; the three times are Helm's time type (zero → `""`). */
function encodeInfo(i) {
  return struct([
    ['first_deployed', str(i.first_deployed)],
    ['last_deployed', str(i.last_deployed)],
    ['deleted', str(i.deleted)],
    ['description', omitStr(i.description)],
    ['status', omitStr(i.status)],
    ['notes', omitStr(i.notes)],
  ]);
}

/**
 * pkg/release/release.go `Release` as `json.Marshal` writes it (`Labels` is `json:"-"`: the
 * storage driver keeps them in the Secret's metadata instead).
 */
export function encodeRelease(r) {
  return struct([
    ['name', omitStr(r.name)],
    ['info', r.info ? encodeInfo(r.info) : undefined],
    ['chart', r.chart ? encodeChart(r.chart) : undefined],
    ['config', isMap(r.config) && Object.keys(r.config).length > 0 ? goValue(r.config) : undefined],
    ['manifest', omitStr(r.manifest)],
    ['version', r.version ? goNumber(r.version) : undefined],
    ['namespace', omitStr(r.namespace)],
  ]);
}

/** cmd/helm/history.go `releaseInfo` rows, as `helm history -o json` prints them. */
export function encodeHistory(rows) {
  return `[${rows.map((r) => struct([
    ['revision', goNumber(r.revision)],
    ['updated', str(r.updated)],
    ['status', str(r.status)],
    ['chart', str(r.chart)],
    ['app_version', str(r.app_version)],
    ['description', str(r.description)],
  ])).join(',')}]`;
}

const pad = (n, w = 2) => String(n).padStart(w, '0');

/**
 * `time.Now()` marshalled (RFC 3339 with nanoseconds, trailing zeros trimmed, `Z` for a zero
 * offset). JavaScript has milliseconds; the nanoseconds below them come from the monotonic clock.
 */
export function goNow() {
  const ms = Date.now();
  const d = new Date(ms);
  const nanos = (ms % 1000) * 1_000_000 + Number(process.hrtime.bigint() % 1_000_000n);
  const frac = nanos === 0 ? '' : `.${String(nanos).padStart(9, '0').replace(/0+$/, '')}`;
  const off = -d.getTimezoneOffset();
  const zone = off === 0 ? 'Z' : `${off < 0 ? '-' : '+'}${pad(Math.floor(Math.abs(off) / 60))}:${pad(Math.abs(off) % 60)}`;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}${frac}${zone}`;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `t.Format(time.ANSIC)` (`Mon Jan _2 15:04:05 2006`) of a marshalled time, in its own offset. */
export function ansic(rfc3339) {
  const m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)/.exec(rfc3339 ?? '');
  if (!m) return '';
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const day = DAYS[new Date(Date.UTC(y, mo - 1, d)).getUTCDay()];
  return `${day} ${MONTHS[mo - 1]} ${String(d).padStart(2, ' ')} ${m[4]}:${m[5]}:${m[6]} ${y}`;
}

const UNITS = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go's `time.ParseDuration`, in milliseconds; throws Go's error text. */
export function parseDuration(text) {
  const quoted = JSON.stringify(text);
  let s = text;
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) { sign = s[0] === '-' ? -1 : 1; s = s.slice(1); }
  if (s === '0') return 0;
  if (s === '') throw new Error(`time: invalid duration ${quoted}`);
  let total = 0;
  while (s !== '') {
    const num = /^([0-9]*)(\.[0-9]*)?/.exec(s);
    if (!num || (num[1] === '' && (num[2] ?? '.') === '.')) throw new Error(`time: invalid duration ${quoted}`);
    s = s.slice(num[0].length);
    const unit = /^[^0-9.]*/.exec(s)[0];
    if (unit === '') throw new Error(`time: missing unit in duration ${quoted}`);
    if (!(unit in UNITS)) throw new Error(`time: unknown unit ${JSON.stringify(unit)} in duration ${quoted}`);
    s = s.slice(unit.length);
    total += Number(`${num[1] || '0'}${num[2] ?? ''}`) * UNITS[unit];
  }
  return sign * total;
}
