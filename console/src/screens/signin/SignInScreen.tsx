// Sign-in with an API token; also the screen a refused (bad, revoked) token lands on.
import { useState } from "preact/hooks";
import { rejection } from "../../services/connection";
import { sessionError, signIn } from "../../stores/session";

export function SignInScreen() {
  const [value, setValue] = useState("");
  const refused = rejection.value;
  const trouble = sessionError.value;

  function submit(event: Event) {
    event.preventDefault();
    if (value.trim()) signIn(value);
  }

  return (
    <main class="signin">
      <form class="signin-card" onSubmit={submit} aria-labelledby="signin-title">
        <p class="brand" aria-hidden="true">
          <span class="brand-mark">┼</span> Jobtower
        </p>
        {refused ? (
          <div class="notice notice-danger" role="alert">
            <h1 id="signin-title">Your token was refused</h1>
            <p>{refused}</p>
            <p>It may be mistyped, revoked or expired. Paste a valid API token to sign in again.</p>
          </div>
        ) : (
          <h1 id="signin-title">Sign in to Jobtower</h1>
        )}
        {trouble && (
          <p class="notice notice-warning" role="alert">
            {trouble}
          </p>
        )}
        <label for="token">API token</label>
        <input
          id="token"
          name="token"
          type="password"
          autocomplete="off"
          spellcheck={false}
          placeholder="jt_…"
          value={value}
          onInput={(event) => setValue(event.currentTarget.value)}
          required
        />
        <p class="hint">
          The token stays in this tab only and is forgotten when you close it. <code>jobtower serve</code> prints an
          admin token; <code>jobtower token create</code> makes more.
        </p>
        <button type="submit" class="primary">
          Sign in
        </button>
      </form>
    </main>
  );
}
