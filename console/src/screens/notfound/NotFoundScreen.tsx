import { Header } from "../../components/Header";

export function NotFoundScreen() {
  return (
    <>
      <Header />
      <main class="centered">
        <h1>Page not found</h1>
        <p>
          There is no page at this address. <a href="/jobs">Go to the jobs</a>.
        </p>
      </main>
    </>
  );
}
