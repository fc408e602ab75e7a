// Who is signed in: the token's viewer (tenant and role), or why there is none.
import { computed, effect, signal } from "@preact/signals";
import { graphql, type ResultOf } from "../graphql";
import { ApiError, forgetToken, rejection, request, setToken, token } from "../services/connection";

const ViewerQuery = graphql(`
  query Viewer {
    viewer {
      name
      role
      principal {
        id
      }
      tenant {
        slug
        name
      }
    }
  }
`);

export type Viewer = ResultOf<typeof ViewerQuery>["viewer"];

export const viewer = signal<Viewer | null>(null);
/** A problem other than a refused token (the server is down): the sign-in screen shows it. */
export const sessionError = signal<string | null>(null);

export type SessionState = "signed-out" | "checking" | "signed-in" | "rejected";

export const sessionState = computed<SessionState>(() => {
  if (token.value === null) return rejection.value ? "rejected" : "signed-out";
  return viewer.value ? "signed-in" : "checking";
});

/** ADMIN and PLATFORM may see system jobs; PLATFORM sees every tenant. */
export const seesSystemJobs = computed(() => viewer.value?.role === "ADMIN" || viewer.value?.role === "PLATFORM");
export const seesAllTenants = computed(() => viewer.value?.role === "PLATFORM");
/** The signed-in principal's id: the Run by filter's "Me". */
export const myPrincipalId = computed(() => viewer.value?.principal?.id ?? null);

export function signIn(value: string): void {
  sessionError.value = null;
  setToken(value.trim());
}

export function signOut(): void {
  viewer.value = null;
  forgetToken();
}

async function loadViewer(): Promise<void> {
  try {
    viewer.value = (await request(ViewerQuery, {})).viewer;
  } catch (error) {
    if (error instanceof ApiError && error.code !== "UNAUTHENTICATED") {
      sessionError.value = error.message;
      forgetToken();
    }
  }
}

// A new token (signing in, or the one this tab kept) is checked by asking who it is.
effect(() => {
  if (token.value !== null) {
    viewer.value = null;
    void loadViewer();
  } else {
    viewer.value = null;
  }
});
