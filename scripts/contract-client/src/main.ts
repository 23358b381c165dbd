// Contract client: drives a live gateway only through the types generated from
// docs/openapi.json (`npm run generate`), so a document a front end cannot use
// fails here, either in `tsc` or at run time.
import createClient from "openapi-fetch";
import type { paths } from "./schema.js";

const baseUrl = env("GATEWAY_URL");
const username = env("ROOT_USERNAME");
const password = env("ROOT_PASSWORD");

function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`environment variable ${name} is not set`);
  return v;
}

function check(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Error(msg);
}

function step(line: string): void {
  console.log(`ok  ${line}`);
}

/** What every openapi-fetch call returns, as far as these helpers need it. */
type Result<T, E> = { data?: T; error?: E; response: Response };

/** A 200 answer with `success: true`; returns the typed envelope. */
function ok<T extends { success: boolean; message: string }, E>(what: string, r: Result<T, E>): T {
  const { data, error, response } = r;
  check(
    response.status === 200 && data !== undefined,
    `${what}: expected 200 with a body, got ${response.status} ${JSON.stringify(error ?? data)}`,
  );
  check(data.success, `${what}: success is false: ${data.message}`);
  return data;
}

/** An error answer with the given status; returns the typed error body. */
function fails<T, E>(what: string, status: number, r: Result<T, E>): NonNullable<E> {
  const { data, error, response } = r;
  check(
    response.status === status && error != null,
    `${what}: expected ${status} with an error body, ` +
      `got ${response.status} ${JSON.stringify(data ?? error)}`,
  );
  return error;
}

async function main(): Promise<void> {
  // A client without credentials: login, and the 401 check.
  const anon = createClient<paths>({ baseUrl, headers: { "Accept-Language": "en" } });

  // a. Login; Node's fetch keeps no cookies, so carry `session` by hand.
  const login = await anon.POST("/api/user/login", { body: { username, password } });
  const me = ok("POST /api/user/login", login);
  const userId = me.data.id;
  check(typeof userId === "number", `login: data.id is not a number: ${JSON.stringify(me.data)}`);
  const cookie = login.response.headers
    .getSetCookie()
    .map((c) => c.split(";")[0] ?? "")
    .find((c) => c.startsWith("session="));
  check(cookie, `login: no session cookie in set-cookie: ${login.response.headers.get("set-cookie")}`);
  step(`a. login as ${username}: user id ${userId}, session cookie received`);
  // Authenticated operations require the `New-Api-User` header (security scheme `user_id`).
  const user = { "New-Api-User": String(userId) };

  // b. Access token, with the session cookie.
  const tokenEnv = ok(
    "GET /api/user/token",
    await anon.GET("/api/user/token", { headers: { ...user, Cookie: cookie } }),
  );
  const accessToken: string = tokenEnv.data;
  check(accessToken.length > 0, "GET /api/user/token: empty access token");
  step(`b. access token issued (${accessToken.length} chars)`);

  // From here on every call carries the access token and the user header.
  const api = createClient<paths>({
    baseUrl,
    headers: { ...user, Authorization: `Bearer ${accessToken}`, "Accept-Language": "en" },
  });

  // c. Error envelopes: their `message` is typed as a string.
  const notFound = fails(
    "GET /api/token/999999",
    404,
    await api.GET("/api/token/{id}", { params: { path: { id: 999999 } } }),
  );
  const notFoundMsg: string = notFound.message;
  check(notFoundMsg.length > 0, "GET /api/token/999999: empty error message");
  const unauth = fails("GET /api/user/self (no auth)", 401, await anon.GET("/api/user/self"));
  const unauthMsg: string = unauth.message;
  check(unauthMsg.length > 0, "GET /api/user/self (no auth): empty error message");
  step(`c. 404 "${notFoundMsg}"; 401 without auth "${unauthMsg}"`);

  // d. A channel.
  const channel = ok(
    "POST /api/channel",
    await api.POST("/api/channel", {
      body: {
        name: "contract",
        type: 1,
        key: "sk-test",
        base_url: "http://127.0.0.1:9",
        models: "gpt-4o-mini,gpt-4o",
        group: "default",
      },
    }),
  );
  const channelId: number = channel.data.id;
  step(`d. channel created: id ${channelId}`);

  // e. Three keys.
  const keyIds: number[] = [];
  for (const n of [1, 2, 3]) {
    const created = ok(
      "POST /api/token",
      await api.POST("/api/token", { body: { name: `contract-${n}`, remain_quota: 1000, unlimited_quota: false } }),
    );
    const key: string = created.data.key;
    check(key.startsWith("sk-"), `POST /api/token: key does not start with sk-: ${key}`);
    keyIds.push(created.data.id);
  }
  step(`e. keys created: ids ${keyIds.join(", ")}`);

  // f. Pages of keys.
  const page = async (p: number) =>
    ok(`GET /api/token p=${p}`, await api.GET("/api/token", { params: { query: { p, size: 2 } } }));
  const page1 = await page(1);
  const page2 = await page(2);
  check(page1.data.length === 2, `GET /api/token p=1 size=2: ${page1.data.length} items, expected 2`);
  check(page1.total >= 3, `GET /api/token: total ${page1.total}, expected >= 3`);
  check(page2.data.length >= 1, "GET /api/token p=2 size=2: no items");
  const ids = [...page1.data, ...page2.data].map((t) => t.id);
  check(new Set(ids).size === ids.length, `GET /api/token: an id repeats across pages: ${ids.join(", ")}`);
  step(`f. token pages: ${page1.data.length} + ${page2.data.length} items of ${page1.total}`);

  // g. Logs, filtered: a redeemed code makes a top-up log (type 1).
  const code = ok(
    "POST /api/redemption",
    await api.POST("/api/redemption", { body: { name: "contract", quota: 1000 } }),
  );
  ok("POST /api/user/topup", await api.POST("/api/user/topup", { body: { key: code.data.key } }));
  const now = Math.floor(Date.now() / 1000);
  const logsOf = async (type: number) =>
    ok(
      `GET /api/log type=${type}`,
      await api.GET("/api/log", {
        params: {
          query: { p: 1, size: 10, type, start_timestamp: now - 3600, end_timestamp: now + 60 },
        },
      }),
    );
  const logs = await logsOf(1);
  check(logs.total >= 1 && logs.data.length >= 1, "GET /api/log?type=1: the top-up log is missing");
  check(logs.data.every((l) => l.type === 1), "GET /api/log?type=1: a log of another type");
  const consumed = await logsOf(2);
  check(consumed.total === 0, `GET /api/log?type=2: ${consumed.total} logs, none expected`);
  const own = ok(
    "GET /api/log/self",
    await api.GET("/api/log/self", { params: { query: { p: 1 } } }),
  );
  check(Array.isArray(own.data) && typeof own.total === "number", "GET /api/log/self: not a page");
  step(`g. logs: ${logs.total} top-up, ${consumed.total} consume (last hour); own logs: ${own.total}`);

  // h. Clean up.
  for (const id of keyIds) {
    ok(
      `DELETE /api/token/${id}`,
      await api.DELETE("/api/token/{id}", { params: { path: { id } } }),
    );
  }
  ok(
    `DELETE /api/channel/${channelId}`,
    await api.DELETE("/api/channel/{id}", { params: { path: { id: channelId } } }),
  );
  step(`h. deleted keys ${keyIds.join(", ")} and channel ${channelId}`);

  console.log("contract client: ok");
}

main().catch((e: unknown) => {
  console.error(`contract client: FAILED: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
