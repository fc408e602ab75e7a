// The console's one connection to the API: queries and mutations over fetch, subscriptions
// over one graphql-ws socket per tab, the bearer token, and what to do when either drops.
import { print } from "@0no-co/graphql.web";
import { signal } from "@preact/signals";
import { createClient, type Client } from "graphql-ws";
import { graphql, type ResultOf, type TadaDocumentNode } from "../graphql";

const TOKEN_KEY = "jobtower.token";
const ENDPOINT = "/graphql";
const RECONNECT_DELAYS_MS = [500, 1000, 2000, 5000, 10000];

/** A refusal the user should read: the API's code and message. */
export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export type LiveState = "idle" | "connecting" | "live" | "paused" | "reconnecting" | "interrupted";

/** The token of this tab's session; sessionStorage, so it never reaches a URL or another tab. */
export const token = signal<string | null>(sessionStorage.getItem(TOKEN_KEY));
/** Why the API refused the token (bad, revoked), until the user signs in again. */
export const rejection = signal<string | null>(null);
/** The subscription socket: Live, Paused while the tab is hidden, Reconnecting after a drop,
 * Interrupted while the API says no event can reach it (its Redis is unreachable). */
export const liveState = signal<LiveState>("idle");

export function setToken(value: string): void {
  sessionStorage.setItem(TOKEN_KEY, value);
  rejection.value = null;
  token.value = value;
  restartSocket();
}

export function forgetToken(reason: string | null = null): void {
  sessionStorage.removeItem(TOKEN_KEY);
  token.value = null;
  rejection.value = reason;
  closeSocket();
  liveState.value = "idle";
}

type GraphQLResponse<Data> = {
  data?: Data | null;
  // `code` is the generic one (BAD_USER_INPUT, NOT_FOUND…); `jobtowerCode` is ours, when there is one.
  errors?: { message: string; extensions?: { code?: string; jobtowerCode?: string } }[];
};

/** Runs a query or mutation; throws ApiError with the first error's code and message. */
export async function request<Data, Variables>(
  document: TadaDocumentNode<Data, Variables>,
  variables: Variables,
): Promise<Data> {
  const headers: Record<string, string> = {
    "content-type": "application/json",
    accept: "application/graphql-response+json, application/json",
  };
  if (token.value) headers.authorization = `Bearer ${token.value}`;
  let response: Response;
  try {
    response = await fetch(ENDPOINT, {
      method: "POST",
      headers,
      body: JSON.stringify({ query: print(document), variables }),
    });
  } catch {
    throw new ApiError("NETWORK", "The server cannot be reached.");
  }
  let body: GraphQLResponse<Data>;
  try {
    body = await response.json();
  } catch {
    throw new ApiError("BAD_RESPONSE", `The server answered ${response.status} without GraphQL.`);
  }
  const error = body.errors?.[0];
  const code =
    error?.extensions?.jobtowerCode ??
    error?.extensions?.code ??
    (response.status === 401 ? "UNAUTHENTICATED" : undefined);
  if (code === "UNAUTHENTICATED") {
    forgetToken(error?.message ?? "The token was refused.");
  }
  if (error || body.data == null) {
    throw new ApiError(code ?? "ERROR", error?.message ?? "The server sent no data.");
  }
  return body.data;
}

export type LiveSink<Data> = {
  next(data: Data): void;
  /** The stream was down (a drop, a hidden tab) and is back: events may have been missed. A
   * sink that catches up by a query returns its promise: the state says Reconnecting until it
   * settles, so Live means caught up. */
  resumed(): void | Promise<unknown>;
  /** The server refused the subscription (a position too far back). True: subscribe again,
   * reading `variables` anew. */
  refused?(): boolean;
};

type Live = {
  document: string;
  variables: () => Record<string, unknown>;
  sink: LiveSink<unknown>;
  stop?: () => void;
};

// Whether events reach the API's subscriptions: Live is the API's word for it, not a guess.
const LiveStatus = graphql(`
  subscription LiveStatus {
    liveStatus {
      eventsFlowing
    }
  }
`);

const subscriptions = new Set<Live>();
let client: Client | null = null;
let reconnectAttempt = 0;
let reconnectTimer: number | undefined;
let missedEvents = false;

/**
 * Subscribes over the tab's socket. `variables` is read again at every (re)subscription, so a
 * stream that resumes from a position (afterSeq) passes the latest one.
 */
export function subscribe<Data, Variables extends Record<string, unknown>>(
  document: TadaDocumentNode<Data, Variables>,
  variables: () => Variables,
  sink: LiveSink<Data>,
): () => void {
  const live: Live = { document: print(document), variables, sink: sink as LiveSink<unknown> };
  subscriptions.add(live);
  if (client) attach(client, live);
  else if (!tabHidden()) openSocket();
  return () => {
    subscriptions.delete(live);
    live.stop?.();
    if (subscriptions.size === 0) {
      closeSocket();
      liveState.value = "idle";
    }
  };
}

function attach(socket: Client, live: Live): void {
  // A refusal comes as a result of errors alone, or as an error message (a list).
  const refused = () => {
    if (client === socket && live.sink.refused?.()) attach(socket, live);
  };
  live.stop = socket.subscribe(
    { query: live.document, variables: live.variables() },
    {
      next: (result) => {
        if (result.data) live.sink.next(result.data);
        else if (result.errors?.length) refused();
      },
      // Drops are handled once for the socket (on.closed): the stream ends with a CloseEvent.
      error: (error) => {
        if (Array.isArray(error)) refused();
      },
      complete: () => {},
    },
  );
}

function openSocket(): void {
  if (client || !token.value || subscriptions.size === 0) return;
  const protocol = location.protocol === "https:" ? "wss:" : "ws:";
  const socket = createClient({
    url: `${protocol}//${location.host}${ENDPOINT}`,
    connectionParams: () => ({ authorization: `Bearer ${token.value}` }),
    lazy: false,
    retryAttempts: 0,
    on: {
      connected: () => {
        if (client === socket) reconnectAttempt = 0;
      },
      closed: (event) => {
        if (client !== socket) return; // closed on purpose
        client = null;
        missedEvents = true;
        const code = (event as CloseEvent | undefined)?.code;
        if (code === 4403 || code === 4401) {
          forgetToken("The token was refused.");
          return;
        }
        liveState.value = "reconnecting";
        const delay = RECONNECT_DELAYS_MS[Math.min(reconnectAttempt, RECONNECT_DELAYS_MS.length - 1)];
        reconnectAttempt += 1;
        reconnectTimer = window.setTimeout(openSocket, delay);
      },
    },
  });
  client = socket;
  if (liveState.value !== "reconnecting") liveState.value = "connecting";
  for (const live of subscriptions) attach(socket, live);
  followLiveStatus(socket);
}

/** Live once the API says events flow, after catching up with what a drop or an outage missed;
 * Interrupted while they cannot. The data subscriptions stay open through an outage. */
function followLiveStatus(socket: Client): void {
  socket.subscribe<ResultOf<typeof LiveStatus>>(
    { query: print(LiveStatus) },
    {
      next: (result) => {
        const flowing = result.data?.liveStatus.eventsFlowing;
        if (client !== socket || flowing === undefined) return;
        if (!flowing) {
          missedEvents = true;
          liveState.value = "interrupted";
          return;
        }
        if (!missedEvents) {
          liveState.value = "live";
          return;
        }
        missedEvents = false;
        const catchingUp = [...subscriptions].map((live) => live.sink.resumed());
        void Promise.allSettled(catchingUp).then(() => {
          if (client === socket) liveState.value = "live";
        });
      },
      error: () => {},
      complete: () => {},
    },
  );
}

function closeSocket(): void {
  window.clearTimeout(reconnectTimer);
  const socket = client;
  client = null;
  for (const live of subscriptions) live.stop = undefined;
  void socket?.dispose();
}

function restartSocket(): void {
  closeSocket();
  openSocket();
}

function tabHidden(): boolean {
  return document.visibilityState === "hidden";
}

// A hidden tab holds no socket: it pauses, and catches up when it is shown again.
document.addEventListener("visibilitychange", () => {
  if (tabHidden()) {
    if (subscriptions.size === 0) return;
    closeSocket();
    missedEvents = true;
    liveState.value = "paused";
  } else {
    openSocket();
  }
});
