// A link that moves within the console without reloading; still a real link (new tab, copy).
import type { ComponentChildren } from "preact";
import { navigate } from "../stores/route";

type Props = {
  href: string;
  children: ComponentChildren;
  class?: string;
  id?: string;
  current?: boolean;
  /** The key that follows it (see services/shortcuts). */
  shortcut?: string;
};

export function Link({ href, children, class: className, id, current, shortcut }: Props) {
  function follow(event: MouseEvent) {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    const url = new URL(href, location.href);
    navigate(url.pathname, Object.fromEntries(url.searchParams));
  }
  return (
    <a
      href={href}
      class={className}
      id={id}
      aria-current={current ? "true" : undefined}
      aria-keyshortcuts={shortcut}
      onClick={follow}
    >
      {children}
    </a>
  );
}
