// CineLibre's web app: hash routes, one view per route, every request through the public HTTP API.

import { api, describe, loadConfig, session } from './api.js';
import { h, replace, uniqueId } from './dom.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const noticeArea = document.getElementById('notice');

const SEARCH_LIMIT = 24;
const LANGUAGES = ['en', 'hi', 'te', 'ta', 'kn', 'ml', 'bn', 'mr'];
const MOVIE_GENRES = [
  'Action', 'Adventure', 'Animation', 'Comedy', 'Crime', 'Documentary', 'Drama', 'Family', 'Fantasy', 'History',
  'Horror', 'Music', 'Mystery', 'Romance', 'Science Fiction', 'Thriller', 'War', 'Western',
];
const BOOK_CATEGORIES = [
  'Classics', 'Indian Literature', 'Literary Fiction', 'Romance', 'Historical Fiction', 'Adventure', 'Science Fiction',
  'Philosophy', 'Fantasy', 'History', 'Fiction', 'Thriller', 'Memoir', 'Science', 'Humor', 'Dystopian', 'Crime',
  'Horror', 'Mystery', 'Mythology', 'Poetry', 'Biography',
];
// Friendly names for the methods we know; any other method string is shown as it comes.
const METHOD_LABELS = {
  collaborative: 'People with tastes like yours',
  content_based: 'Close to what you rated highly',
  popularity: 'Popular',
  item_knn: 'Items rated like the ones you liked',
  ease: 'Learned from everyone’s ratings',
  hybrid: 'Mixed methods',
};
const FIELD_LABELS = {
  q: 'the search words', year_from: 'the “from” year', year_to: 'the “to” year', language: 'the language',
  email: 'the email', password: 'the password', name: 'the name', rating: 'the rating',
};

const languageNames = new Intl.DisplayNames(['en'], { type: 'language' });
const languageName = (code) => {
  if (!code) return '';
  try {
    return languageNames.of(code);
  } catch {
    return code;
  }
};
const methodLabel = (method) => METHOD_LABELS[method] || method;
const kindLabel = (type) => (type === 'book' ? 'Book' : 'Film');
const itemHref = (item) => `#/${item.item_type}/${item.item_id}`;

// The signed-in user's ratings by item id, loaded once per session and kept in step with every change.
let myRatings = null;

// ---- routing ---------------------------------------------------------------------------------------------

function currentRoute() {
  const hash = location.hash.startsWith('#/') ? location.hash.slice(1) : '/';
  const [path, query = ''] = hash.split('?');
  return { path: path || '/', params: new URLSearchParams(query) };
}

function go(path, params) {
  const query = params ? new URLSearchParams(params).toString() : '';
  location.hash = `#${path}${query ? `?${query}` : ''}`;
}

const ROUTES = [
  [/^\/$/, (params) => searchView(params)],
  [/^\/search$/, (params) => searchView(params)],
  [/^\/(movie|book)\/(\d+)$/, (params, [, type, id]) => itemView(type, Number(id))],
  [/^\/signin$/, (params) => authView('signin', params)],
  [/^\/signup$/, (params) => authView('signup', params)],
  [/^\/ratings$/, (params) => myRatingsView(params)],
  [/^\/for-you$/, (params) => forYouView(params)],
  [/^\/popular$/, (params) => popularView(params)],
];

let firstRender = true;

function render() {
  const { path, params } = currentRoute();
  renderNav(path);
  const route = ROUTES.find(([pattern]) => pattern.test(path));
  replace(main);
  if (route) route[1](params, path.match(route[0]));
  else page('Page not found', h('p', {}, 'There is nothing here. ', h('a', { href: '#/' }, 'Search films and books'), '.'));
  // Keyboard and screen-reader users land on the new page's heading, not at the top of the old one.
  if (!firstRender) main.querySelector('h1')?.focus({ preventScroll: false });
  firstRender = false;
}

function page(title, ...children) {
  document.title = `${title} · CineLibre`;
  replace(main, h('h1', { tabindex: '-1' }, title), ...children);
}

function renderNav(path) {
  const user = session.get()?.user;
  const link = (href, text) =>
    h('li', {}, h('a', { href, 'aria-current': `#${path}` === href || (href === '#/' && path === '/search') ? 'page' : null }, text));
  replace(
    nav,
    link('#/', 'Search'),
    link('#/popular', 'Popular'),
    user ? [
      link('#/for-you', 'For you'),
      link('#/ratings', 'My ratings'),
      h('li', { class: 'who' }, h('button', { type: 'button', class: 'link', onclick: signOut }, `Sign out ${user.name || ''}`.trim())),
    ] : [link('#/signin', 'Sign in'), link('#/signup', 'Sign up')],
  );
}

// ---- shared pieces ---------------------------------------------------------------------------------------

function notice(...content) {
  replace(noticeArea, h('p', {}, ...content));
  clearTimeout(notice.timer);
  notice.timer = setTimeout(() => replace(noticeArea), 10000);
}

function signInHref() {
  const { path, params } = currentRoute();
  const back = path === '/signin' || path === '/signup' ? '' : `#${path}${params.size ? `?${params}` : ''}`;
  return `#/signin${back ? `?${new URLSearchParams({ next: back })}` : ''}`;
}

function friendlyFieldNames(error) {
  for (const detail of error.details || []) detail.field = FIELD_LABELS[detail.field] || detail.field;
  return error;
}

/** The message for a failure, with a way forward: try again (after Retry-After for a 429) or sign in. */
function errorBox(error, { what, retry } = {}) {
  const info = describe(friendlyFieldNames(error), { what });
  const box = h('div', { class: 'error', role: 'alert' }, h('p', {}, info.text));
  if (info.signIn) box.append(h('a', { class: 'button', href: signInHref() }, 'Sign in again'));
  if (info.retryable && retry) {
    const button = h('button', { type: 'button', onclick: retry }, 'Try again');
    if (info.waitSeconds > 0) countDown(button, info.waitSeconds);
    box.append(button);
  }
  return box;
}

function countDown(button, seconds) {
  let left = seconds;
  button.disabled = true;
  const tick = () => {
    if (!button.isConnected && left < seconds) return;
    if (left <= 0) {
      button.disabled = false;
      button.textContent = 'Try again';
      return;
    }
    button.textContent = `Try again in ${left} s`;
    left -= 1;
    setTimeout(tick, 1000);
  };
  tick();
}

/** Fill `container` from one request: a loading line, then the content or an error with a retry path. */
async function load(container, what, fetcher, show) {
  replace(container, h('p', { class: 'loading', 'aria-busy': 'true' }, `Loading ${what}…`));
  try {
    const data = await fetcher();
    if (!container.isConnected) return; // the person has moved on to another page
    replace(container, show(data));
    if (container === main) main.querySelector('h1')?.focus();
  } catch (error) {
    replace(container, errorBox(error, { what, retry: () => load(container, what, fetcher, show) }));
  }
}

function poster(item) {
  const initials = (item.title || '?').split(/\s+/).slice(0, 2).map((word) => word.charAt(0)).join('');
  const hue = [...(item.title || '')].reduce((sum, char) => sum + char.codePointAt(0), 0) % 360;
  const placeholder = () =>
    tinted(h('div', { class: 'poster placeholder', 'aria-hidden': 'true' },
      h('span', { class: 'kind' }, kindLabel(item.item_type)), h('span', { class: 'initials' }, initials)), hue);
  if (!item.image_url) return placeholder();
  const image = h('img', { class: 'poster', src: item.image_url, alt: '', loading: 'lazy', width: '160', height: '240' });
  image.addEventListener('error', () => image.replaceWith(placeholder()), { once: true });
  return image;
}

// Through the CSSOM, not a style attribute, which the deployed Content-Security-Policy refuses.
function tinted(element, hue) {
  element.style.setProperty('--hue', String(hue));
  return element;
}

function metaLine(item) {
  const tags = item.item_type === 'book' ? item.categories : item.genres;
  return [kindLabel(item.item_type), item.year, languageName(item.language), ...(tags || []).slice(0, 2)]
    .filter(Boolean)
    .join(' · ');
}

function card(item, { showMethod = false } = {}) {
  const overview = item.overview && item.overview.length > 180 ? `${item.overview.slice(0, 177).trimEnd()}…` : item.overview;
  return h('li', { class: 'card' },
    h('a', { href: itemHref(item) },
      poster(item),
      h('div', { class: 'card-body' },
        h('h3', {}, item.title),
        h('p', { class: 'meta' }, metaLine(item)),
        item.authors?.length ? h('p', { class: 'meta' }, item.authors.join(', ')) : null,
        overview ? h('p', { class: 'overview' }, overview) : null,
        item.reason ? h('p', { class: 'reason' }, capitalise(item.reason)) : null,
        showMethod && item.method ? h('p', { class: 'method' }, 'Method: ', h('span', { class: 'method-name', 'data-method': item.method }, methodLabel(item.method))) : null)));
}

const cards = (items, options) => h('ul', { class: 'cards' }, items.map((item) => card(item, options)));
const capitalise = (text) => text.charAt(0).toUpperCase() + text.slice(1);

// ---- search ----------------------------------------------------------------------------------------------

const FILTERS = ['item_type', 'language', 'genre', 'category', 'year_from', 'year_to'];

function searchForm(params) {
  const field = (label, control) => h('label', { class: 'field' }, h('span', {}, label), control);
  const select = (name, options, value) =>
    h('select', { name }, options.map(([optionValue, text]) => h('option', { value: optionValue, selected: optionValue === value }, text)));
  const type = params.get('item_type') || 'all';
  const categoriesId = uniqueId('categories');
  const form = h('form', { class: 'search', role: 'search' },
    h('label', { class: 'q' }, h('span', {}, 'Search'),
      h('input', { name: 'q', type: 'search', value: params.get('q') || '', maxlength: '500', autocomplete: 'off',
        placeholder: 'a gritty crime thriller in a rainy city' })),
    h('button', { type: 'submit' }, 'Search'),
    h('details', { class: 'filters-box', open: FILTERS.some((name) => params.get(name)) || matchMedia('(min-width: 48rem)').matches },
      h('summary', {}, 'Filters'),
      h('div', { class: 'filters' },
      field('Type', select('item_type', [['all', 'Films and books'], ['movie', 'Films'], ['book', 'Books']], type)),
      field('Language', select('language', [['', 'Any language'], ...LANGUAGES.map((code) => [code, languageName(code)])], params.get('language') || '')),
      field('Film genre', select('genre', [['', 'Any genre'], ...MOVIE_GENRES.map((genre) => [genre, genre])], params.get('genre') || '')),
      field('Book category', h('input', { name: 'category', list: categoriesId, value: params.get('category') || '', maxlength: '100', autocomplete: 'off' })),
      h('datalist', { id: categoriesId }, BOOK_CATEGORIES.map((category) => h('option', { value: category }))),
      field('From year', h('input', { name: 'year_from', type: 'number', inputmode: 'numeric', min: '1800', max: '2100', value: params.get('year_from') || '' })),
      field('To year', h('input', { name: 'year_to', type: 'number', inputmode: 'numeric', min: '1800', max: '2100', value: params.get('year_to') || '' })))));
  const syncKinds = () => {
    const kind = form.elements.item_type.value;
    form.elements.genre.disabled = kind === 'book';
    form.elements.category.disabled = kind === 'movie';
  };
  form.elements.item_type.addEventListener('change', syncKinds);
  syncKinds();
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const values = {};
    for (const name of ['q', ...FILTERS]) {
      const element = form.elements[name];
      const value = element.disabled ? '' : element.value.trim();
      if (value && !(name === 'item_type' && value === 'all')) values[name] = value;
    }
    const target = new URLSearchParams(values).toString();
    if (location.hash === `#/search?${target}`) render(); // the same search again: run it again
    else go('/search', values);
  });
  return form;
}

function searchQuery(params) {
  const type = params.get('item_type') || 'all';
  const query = { item_type: type };
  for (const name of FILTERS.slice(1)) query[name] = params.get(name) || undefined;
  if (type === 'book') query.genre = undefined;
  if (type === 'movie') query.category = undefined;
  return query;
}

// Without search words, the filters browse the catalog lists instead (most popular or most rated first).
async function browse(query) {
  const kinds = query.item_type === 'all' ? ['movie', 'book'] : [query.item_type];
  const pages = await Promise.all(kinds.map((kind) => {
    const { item_type: _, genre, category, ...common } = query;
    return kind === 'movie'
      ? api('/movies', { query: { ...common, genre, limit: SEARCH_LIMIT } })
      : api('/books', { query: { ...common, category, limit: SEARCH_LIMIT } });
  }));
  const results = pages.flatMap((result, index) => result.items.map((row) => ({
    item_id: row.id, item_type: kinds[index], title: row.title, year: row.year,
    image_url: row.poster_url || row.thumbnail_url || null, language: row.original_language || row.language,
    genres: row.genres, categories: row.categories, authors: row.authors,
  })));
  return { results, total: pages.reduce((sum, result) => sum + result.total, 0) };
}

function searchView(params) {
  const q = (params.get('q') || '').trim();
  const hasFilters = FILTERS.some((name) => params.get(name));
  const results = h('section', { class: 'results', 'aria-labelledby': 'results-heading' });
  page(q ? `Results for “${q}”` : 'Find films and books', searchForm(params), results);
  if (q) {
    load(results, 'search results', () => api('/search/semantic', { query: { q, ...searchQuery(params), limit: SEARCH_LIMIT } }),
      (data) => resultList(data.results, q, data.results.length));
  } else if (hasFilters) {
    load(results, 'the catalog', () => browse(searchQuery(params)), (data) => resultList(data.results, '', data.total));
  } else if (session.get()) {
    results.append(h('h2', { id: 'results-heading' }, 'For you'));
    const list = h('div');
    results.append(list, h('p', {}, h('a', { href: '#/for-you' }, 'All your recommendations')));
    load(list, 'your recommendations', () => api('/recommendations/personalized', { auth: true, query: { limit: 8 } }),
      (data) => cards(data.items, { showMethod: true }));
  } else {
    results.append(h('h2', { id: 'results-heading' }, 'Popular now'));
    const list = h('div');
    results.append(list);
    load(list, 'popular titles', () => api('/recommendations/popular', { query: { limit: 8 } }), (data) => cards(data.items));
  }
}

function resultList(items, q, total) {
  if (!items.length) {
    return [
      h('h2', { id: 'results-heading' }, 'No results'),
      h('div', { class: 'empty' },
        h('p', {}, q ? `Nothing in the catalog matches “${q}” with these filters.` : 'Nothing in the catalog matches these filters.'),
        h('p', {}, 'Try other words (a plot, a mood, a title), fewer filters, or ', h('a', { href: '#/popular' }, 'see what is popular'), '.')),
    ];
  }
  const shown = total > items.length ? `${items.length} of ${total}` : `${items.length}`;
  return [h('h2', { id: 'results-heading', tabindex: '-1' }, `${shown} result${items.length === 1 ? '' : 's'}`), cards(items)];
}

// ---- item page -------------------------------------------------------------------------------------------

function itemView(type, id) {
  page('Loading…');
  load(main, `this ${type === 'book' ? 'book' : 'film'}`, () => api(`/${type === 'book' ? 'books' : 'movies'}/${id}`), (detail) => {
    document.title = `${detail.title} · CineLibre`;
    const other = type === 'movie' ? 'book' : 'movie';
    const item = { item_id: id, item_type: type, title: detail.title, image_url: detail.poster_url || detail.thumbnail_url };
    const language = detail.original_language || detail.language;
    const sameKind = h('div');
    const otherKind = h('div');
    load(sameKind, 'similar titles', () => api(`/recommendations/similar/${type}/${id}`, { query: { limit: 6 } }), (data) => similarList(data.items));
    load(otherKind, 'similar titles', () => api(`/recommendations/similar/${type}/${id}`, { query: { target_type: other, limit: 6 } }), (data) => similarList(data.items));
    if (session.get()) api('/interactions', { auth: true, method: 'POST', body: { kind: 'view', item_id: id } }).catch(() => {});
    return h('article', { class: 'item' },
      h('div', { class: 'item-head' },
        poster(item),
        h('div', {},
          h('h1', { tabindex: '-1' }, detail.title),
          detail.original_title && detail.original_title !== detail.title ? h('p', { class: 'original', lang: language || null }, detail.original_title) : null,
          detail.subtitle ? h('p', { class: 'original' }, detail.subtitle) : null,
          h('p', { class: 'meta' }, metaLine({ ...detail, item_type: type, language })),
          h('div', { class: 'rating-area' }, ratingArea(item)))),
      h('p', { class: 'overview' }, detail.overview || detail.description || 'No synopsis yet.'),
      facts(type, detail),
      h('section', { 'aria-labelledby': 'same-kind' }, h('h2', { id: 'same-kind' }, type === 'movie' ? 'More films like this' : 'More books like this'), sameKind),
      h('section', { 'aria-labelledby': 'other-kind' }, h('h2', { id: 'other-kind' }, type === 'movie' ? 'Books for this film’s fans' : 'Films for this book’s readers'), otherKind));
  });
}

function facts(type, detail) {
  const rows = type === 'movie' ? [
    ['Director', detail.director],
    ['Cast', (detail.cast_members || []).map((member) => member.name).join(', ')],
    ['Genres', (detail.genres || []).join(', ')],
    ['Released', detail.release_date || detail.year],
    ['Runtime', detail.runtime ? `${detail.runtime} min` : null],
    ['Average vote', detail.vote_count ? `${detail.vote_average} (${detail.vote_count} votes)` : null],
  ] : [
    ['Authors', (detail.authors || []).join(', ')],
    ['Categories', (detail.categories || []).join(', ')],
    ['Published', [detail.publisher, detail.published_date || detail.year].filter(Boolean).join(', ')],
    ['Pages', detail.page_count],
    ['ISBN', detail.isbn_13 || detail.isbn_10],
    ['Average rating', detail.ratings_count ? `${detail.average_rating} (${detail.ratings_count} ratings)` : null],
  ];
  return h('dl', { class: 'facts' }, rows.filter(([, value]) => value).map(([term, value]) => [h('dt', {}, term), h('dd', {}, String(value))]));
}

function similarList(items) {
  return items.length ? cards(items) : h('p', { class: 'empty' }, 'Nothing close enough yet.');
}

// ---- ratings ---------------------------------------------------------------------------------------------

async function loadMyRatings() {
  if (myRatings) return myRatings;
  const byItem = new Map();
  for (let offset = 0; offset < 2000; offset += 100) {
    const data = await api('/ratings/my', { auth: true, query: { limit: 100, offset } });
    data.items.forEach((rating) => byItem.set(rating.item_id, rating));
    if (offset + data.items.length >= data.total || !data.items.length) break;
  }
  myRatings = byItem;
  return byItem;
}

const draftKey = (itemId) => `cinelibre.draft.${itemId}`;

async function saveRating(item, value) {
  const saved = await api('/ratings', { auth: true, method: 'POST', body: { item_id: item.item_id, rating: value } });
  sessionStorage.removeItem(draftKey(item.item_id));
  myRatings?.set(item.item_id, { ...saved, title: item.title });
  return saved;
}

function ratingArea(item) {
  if (!session.get()) return h('p', {}, h('a', { href: signInHref() }, 'Sign in to rate this'), '.');
  const area = h('div');
  const forYou = h('div', { class: 'after-rating' });
  load(area, 'your rating', () => loadMyRatings(), (ratings) => {
    const existing = ratings.get(item.item_id);
    const draft = Number(sessionStorage.getItem(draftKey(item.item_id))) || null;
    return [
      starRating({
        legend: existing ? 'Your rating' : 'Rate it',
        value: draft ?? existing?.rating ?? null,
        unsaved: draft !== null && draft !== existing?.rating,
        onChange: (value) => sessionStorage.setItem(draftKey(item.item_id), String(value)),
        onSave: async (value) => {
          await saveRating(item, value);
          showForYouNow(forYou);
        },
      }),
      forYou,
    ];
  });
  return area;
}

// After each rating, the user sees their recommendations move.
function showForYouNow(container) {
  load(container, 'your recommendations', () => api('/recommendations/personalized', { auth: true, query: { limit: 4 } }), (data) => [
    h('h2', {}, 'For you now'),
    h('p', { class: 'method' }, 'Method: ', h('span', { class: 'method-name', 'data-method': data.method }, methodLabel(data.method)), ` (${data.rating_count} rating${data.rating_count === 1 ? '' : 's'})`),
    cards(data.items, { showMethod: true }),
    h('p', {}, h('a', { href: '#/for-you' }, 'All your recommendations')),
  ]);
}

/** Half-step stars as ten radio buttons: arrow keys move between them, Save sends the choice. A failed save
 * keeps the choice on screen with a way to try again. */
function starRating({ legend, value, unsaved = false, onChange, onSave }) {
  let selected = value;
  const name = uniqueId('stars');
  const stars = h('div', { class: 'stars' });
  const labels = [];
  for (let step = 1; step <= 10; step += 1) {
    const starValue = step / 2;
    const id = uniqueId('star');
    const input = h('input', { type: 'radio', name, id, value: String(starValue), class: 'sr-only', checked: starValue === selected });
    const label = h('label', { for: id, class: `half ${step % 2 ? 'left' : 'right'}`, title: `${starValue} of 5` },
      h('span', { class: 'sr-only' }, `${starValue} stars`));
    label.dataset.value = String(starValue);
    labels.push(label);
    stars.append(input, label);
  }
  const shown = h('span', { class: 'rate-value' });
  const status = h('div', { class: 'rate-status', role: 'status' }, unsaved ? 'Not saved yet.' : '');
  const button = h('button', { type: 'submit' }, 'Save rating');
  const paint = (upTo) => {
    labels.forEach((label) => label.classList.toggle('on', upTo !== null && Number(label.dataset.value) <= upTo));
    shown.textContent = selected === null ? 'not rated' : `${selected} / 5`;
  };
  stars.addEventListener('change', (event) => {
    selected = Number(event.target.value);
    paint(selected);
    replace(status);
    onChange?.(selected);
  });
  stars.addEventListener('mouseover', (event) => event.target.closest('label') && paint(Number(event.target.closest('label').dataset.value)));
  stars.addEventListener('mouseleave', () => paint(selected));
  const legendElement = h('legend', {}, legend);
  const form = h('form', { class: 'rate' }, h('fieldset', {}, legendElement, stars, shown), button, status);
  const submit = async () => {
    if (selected === null) {
      replace(status, 'Choose a number of stars first.');
      return;
    }
    button.disabled = true;
    replace(status, 'Saving…');
    try {
      await onSave(selected);
      if (legend === 'Rate it') legendElement.textContent = 'Your rating';
      replace(status, `Saved: ${selected} / 5.`);
    } catch (error) {
      replace(status, errorBox(error, { what: 'your rating', retry: submit }));
    } finally {
      button.disabled = false;
    }
  };
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    submit();
  });
  paint(selected);
  return form;
}

function myRatingsView(params) {
  if (!requireSignIn('My ratings')) return;
  const offset = Math.max(0, Number(params.get('offset')) || 0);
  const list = h('div');
  page('My ratings', list);
  load(list, 'your ratings', () => api('/ratings/my', { auth: true, query: { limit: 20, offset } }), (data) => {
    if (!data.items.length && offset === 0) {
      return h('p', { class: 'empty' }, 'You have not rated anything yet. ', h('a', { href: '#/' }, 'Search'), ' for a film or book you know and rate it.');
    }
    const rows = h('ul', { class: 'my-ratings' }, data.items.map((rating) => ratingRow(rating)));
    const pager = h('nav', { class: 'pager', 'aria-label': 'Pages' },
      offset > 0 ? h('a', { href: `#/ratings?offset=${Math.max(0, offset - 20)}` }, 'Newer') : null,
      offset + data.items.length < data.total ? h('a', { href: `#/ratings?offset=${offset + 20}` }, 'Older') : null);
    return [h('p', {}, `${data.total} rating${data.total === 1 ? '' : 's'}, newest first.`), rows, pager];
  });
}

function ratingRow(rating) {
  const item = { ...rating, item_id: rating.item_id, item_type: rating.item_type };
  const problem = h('div');
  const row = h('li', { class: 'rating-row' },
    poster(item),
    h('div', {},
      h('h2', {}, h('a', { href: itemHref(item) }, rating.title)),
      h('p', { class: 'meta' }, [kindLabel(rating.item_type), rating.year].filter(Boolean).join(' · ')),
      starRating({ legend: `Your rating of ${rating.title}`, value: rating.rating, onSave: (value) => saveRating(item, value) }),
      h('button', { type: 'button', class: 'danger', onclick: remove }, `Delete rating of ${rating.title}`),
      problem));
  async function remove() {
    replace(problem);
    try {
      await api(`/ratings/${rating.id}`, { auth: true, method: 'DELETE' });
      myRatings?.delete(rating.item_id);
      const next = row.nextElementSibling?.querySelector('a') || row.previousElementSibling?.querySelector('a');
      row.remove();
      notice(`Deleted your rating of ${rating.title}.`);
      (next || main.querySelector('h1')).focus();
    } catch (error) {
      replace(problem, errorBox(error, { what: 'that rating', retry: remove }));
    }
  }
  return row;
}

// ---- recommendations -------------------------------------------------------------------------------------

function typeTabs(path, current) {
  const tab = (type, text) => h('li', {}, h('a', { href: `#${path}${type === 'all' ? '' : `?item_type=${type}`}`, 'aria-current': current === type ? 'page' : null }, text));
  return h('nav', { class: 'tabs', 'aria-label': 'Kind' }, h('ul', {}, tab('all', 'All'), tab('movie', 'Films'), tab('book', 'Books')));
}

function forYouView(params) {
  if (!requireSignIn('For you')) return;
  const type = params.get('item_type') || 'all';
  const list = h('div');
  page('For you', typeTabs('/for-you', type), list);
  load(list, 'your recommendations', () => api('/recommendations/personalized', { auth: true, query: { item_type: type, limit: 12 } }), (data) => [
    h('p', { class: 'method' }, 'Chosen by: ', h('span', { class: 'method-name', 'data-method': data.method }, methodLabel(data.method)), '. ', data.explanation || ''),
    data.rating_count ? null : h('p', {}, 'Rate a few films or books and this list becomes yours.'),
    data.items.length ? cards(data.items, { showMethod: true }) : h('p', { class: 'empty' }, 'No recommendations yet.'),
  ]);
}

function popularView(params) {
  const type = params.get('item_type') || 'all';
  const list = h('div');
  page('Popular', typeTabs('/popular', type), list);
  load(list, 'popular titles', () => api('/recommendations/popular', { query: { item_type: type, limit: 24 } }), (data) => cards(data.items));
}

// ---- accounts --------------------------------------------------------------------------------------------

function requireSignIn(title) {
  if (session.get()) return true;
  page(title, h('p', {}, h('a', { href: signInHref() }, 'Sign in'), ' or ', h('a', { href: '#/signup' }, 'create an account'), ' to see this.'));
  return false;
}

function authView(mode, params) {
  const signUp = mode === 'signup';
  const next = params.get('next') || '#/for-you';
  const fieldError = {};
  const field = (label, attributes) => {
    const id = uniqueId(attributes.name);
    fieldError[attributes.name] = h('p', { class: 'field-error', id: `${id}-error` });
    return h('div', { class: 'field' }, h('label', { for: id }, label),
      h('input', { id, 'aria-describedby': `${id}-error`, required: true, ...attributes }), fieldError[attributes.name]);
  };
  const status = h('div', { role: 'status' });
  const button = h('button', { type: 'submit' }, signUp ? 'Create account' : 'Sign in');
  const form = h('form', { class: 'account', novalidate: true },
    signUp ? field('Name', { name: 'name', autocomplete: 'name', maxlength: '200' }) : null,
    field('Email', { name: 'email', type: 'email', autocomplete: 'email', maxlength: '320' }),
    field('Password', { name: 'password', type: 'password', autocomplete: signUp ? 'new-password' : 'current-password', minlength: signUp ? '8' : null }),
    signUp ? h('p', { class: 'hint' }, 'At least 8 characters.') : null,
    button, status);
  page(signUp ? 'Create an account' : 'Sign in', form,
    h('p', {}, signUp ? 'Have an account? ' : 'New here? ', h('a', { href: `#/${signUp ? 'signin' : 'signup'}${params.size ? `?${params}` : ''}` }, signUp ? 'Sign in' : 'Create an account'), '.'));
  const submit = async () => {
    Object.values(fieldError).forEach((element) => replace(element));
    const body = Object.fromEntries(['name', 'email', 'password'].filter((name) => form.elements[name]).map((name) => [name, form.elements[name].value]));
    const missing = Object.entries(body).filter(([, value]) => !value.trim()).map(([name]) => name);
    if (missing.length) {
      missing.forEach((name) => replace(fieldError[name], 'Please fill this in.'));
      form.elements[missing[0]].focus();
      return;
    }
    button.disabled = true;
    replace(status, signUp ? 'Creating your account…' : 'Signing in…');
    try {
      const result = await api(signUp ? '/auth/register' : '/auth/login', { method: 'POST', body });
      if (result?.status === 'confirmation_sent') {
        replace(status, 'Check your email and follow the link to confirm your account, then sign in.');
        return;
      }
      myRatings = null;
      session.set(result);
      notice(`Welcome${result.user?.name ? `, ${result.user.name}` : ''}.`);
      location.hash = next;
    } catch (error) {
      const wrongPassword = !signUp && error.status === 401;
      for (const detail of error.details || []) {
        if (fieldError[detail.field]) replace(fieldError[detail.field], capitalise(detail.message));
      }
      const box = wrongPassword ? h('div', { class: 'error', role: 'alert' }, h('p', {}, 'Wrong email or password.'))
        : errorBox(error, { what: signUp ? 'your new account' : 'your account', retry: submit });
      if (signUp && error.status === 409) box.append(h('a', { class: 'button', href: `#/signin${params.size ? `?${params}` : ''}` }, 'Sign in instead'));
      replace(status, box);
    } finally {
      button.disabled = false;
    }
  };
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    submit();
  });
}

async function signOut() {
  const current = session.get();
  if (current?.refreshToken) {
    await api('/auth/logout', { auth: true, method: 'POST', body: { refresh_token: current.refreshToken } }).catch(() => {});
  }
  myRatings = null;
  session.clear('signed_out');
}

session.onChange((value, reason) => {
  if (value) return;
  myRatings = null;
  if (reason === 'expired') {
    notice('Your session has expired. ', h('a', { href: signInHref() }, 'Sign in again'), ' to carry on; nothing you typed is lost.');
    renderNav(currentRoute().path);
  } else {
    notice('You are signed out.');
    if (location.hash === '#/' || location.hash === '') render();
    else location.hash = '#/';
  }
});

// Another tab signing in or out changes what this one may do.
window.addEventListener('storage', (event) => {
  if (event.key === 'cinelibre.session') {
    myRatings = null;
    render();
  }
});
// The skip link moves focus without touching the hash, which belongs to the router.
document.querySelector('.skip').addEventListener('click', (event) => {
  event.preventDefault();
  main.focus();
});
window.addEventListener('hashchange', render);
await loadConfig();
render();
