import { h, render } from 'preact';
import { act } from 'preact/test-utils';
import { describe, expect, it } from 'vitest';
import { useAsync } from '../src/views/common';

// let resolved promises answer and the component render again
const settle = () => act(async () => {
  await new Promise((resolve) => setTimeout(resolve, 0));
});

describe('useAsync', () => {
  it('shows the newest load when an older one answers after it', async () => {
    let answerOld: (v: string) => void = () => {};
    const old = new Promise<string>((resolve) => (answerOld = resolve));
    function View({ n }: { n: number }) {
      const state = useAsync(() => (n === 1 ? old : Promise.resolve('new')), [n]);
      return h('p', null, state.data ?? 'loading');
    }
    const root = document.createElement('div');
    await act(() => render(h(View, { n: 1 }), root));
    await act(() => render(h(View, { n: 2 }), root));
    await settle();
    expect(root.textContent).toBe('new');
    await act(async () => {
      answerOld('old');
      await old;
    });
    await settle();
    expect(root.textContent).toBe('new');
  });
});
