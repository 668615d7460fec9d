import { describe, expect, it } from 'vitest';
import { IMAGE_TAGS_YAML } from '../../../test/support/git-repos.js';
import { GitOpsError } from './errors.js';
import { readValue, setValue } from './values-file.js';

const FILE = 'helm/environments/staging-env/image-tags.yaml';

const VALUES = IMAGE_TAGS_YAML;

function fault(fn: () => unknown): GitOpsError {
  try {
    fn();
  } catch (err) {
    if (err instanceof GitOpsError) return err;
    throw err;
  }
  throw new Error('expected a GitOpsError');
}

describe('setValue', () => {
  it('changes only the value: every other byte of the file stays as it was', () => {
    const r = setValue(VALUES, FILE, 'image.tag', '1.4.2');

    expect(r).toEqual({ text: VALUES.replace('tag: "1.4.1"', 'tag: "1.4.2"'), previous: '1.4.1', changed: true });
  });

  it('keeps single quotes and plain values as they were written', () => {
    expect(setValue("image:\n  tag: '1.4.1' # x\n", FILE, 'image.tag', "it's").text).toBe("image:\n  tag: 'it''s' # x\n");
    expect(setValue('image:\n  tag: 1.4.1 # x\n', FILE, 'image.tag', 'v1.4.2').text).toBe('image:\n  tag: v1.4.2 # x\n');
  });

  it('double-quotes a plain value that YAML would read as another type, so the chart gets a string', () => {
    expect(setValue('tag: 123\n', FILE, 'tag', '124').text).toBe('tag: "124"\n');
    expect(setValue('tag: abc\n', FILE, 'tag', '1.10').text).toBe('tag: "1.10"\n');
    expect(setValue('tag: abc\n', FILE, 'tag', 'yes').text).toBe('tag: "yes"\n');
    expect(setValue('tag: abc\n', FILE, 'tag', 'a #b').text).toBe('tag: "a #b"\n');
    expect(setValue('x: {tag: abc}\n', FILE, 'x.tag', 'a,b').text).toBe('x: {tag: "a,b"}\n');
  });

  it('with number, writes a whole number over a plain value as a YAML number (a count or weight), and quotes anything else as before', () => {
    expect(setValue('canary:\n  replicas: 0 # pods\n', FILE, 'canary.replicas', '2', { number: true }).text).toBe('canary:\n  replicas: 2 # pods\n');
    expect(setValue('weight: 0\n', FILE, 'weight', '1.5', { number: true }).text).toBe('weight: "1.5"\n');
    expect(setValue('weight: "0"\n', FILE, 'weight', '25', { number: true }).text).toBe('weight: "25"\n');
    expect(setValue('weight: 0\n', FILE, 'weight', '25').text).toBe('weight: "25"\n');
  });

  it('fills an empty value in place', () => {
    expect(setValue('image:\n  tag:\n  pullPolicy: Always\n', FILE, 'image.tag', '1.4.2').text).toBe('image:\n  tag: 1.4.2\n  pullPolicy: Always\n');
    expect(setValue('tag:   # set by deployments\n', FILE, 'tag', '1.4.2').text).toBe('tag:   1.4.2 # set by deployments\n');
    expect(setValue('tag: ~\n', FILE, 'tag', '1.4.2')).toEqual({ text: 'tag: 1.4.2\n', previous: null, changed: true });
  });

  it('is idempotent: the same value returns the text unchanged', () => {
    expect(setValue(VALUES, FILE, 'image.tag', '1.4.1')).toEqual({ text: VALUES, previous: '1.4.1', changed: false });
    // A plain number reads as written, so the same tag is the same value.
    expect(setValue('tag: 123\n', FILE, 'tag', '123')).toEqual({ text: 'tag: 123\n', previous: '123', changed: false });
  });

  it('refuses a key that is not in the file, naming the keys that are there, and never adds one', () => {
    const leaf = fault(() => setValue(VALUES, FILE, 'image.tags', '1.4.2'));
    expect(leaf.code).toBe('invalid_argument');
    expect(leaf.message).toBe(`image.tags not found in ${FILE}: image has the keys repository, tag, pullPolicy`);
    expect(leaf.hint).toBe('check the key in target.gitops, or add it to the file by hand first (Gangway changes values, it does not add keys)');
    expect(leaf.details).toEqual({ file: FILE, key: 'image.tags' });

    expect(fault(() => setValue(VALUES, FILE, 'images.tag', '1.4.2')).message)
      .toBe(`images.tag not found in ${FILE}: the file has the keys image, replicas, resources, sidecars`);
    expect(fault(() => setValue(VALUES, FILE, 'replicas.tag', '1.4.2')).message)
      .toBe(`replicas.tag not found in ${FILE}: replicas is a single value, not a map of keys`);
    expect(fault(() => setValue('', FILE, 'image.tag', '1.4.2')).message)
      .toBe(`image.tag not found in ${FILE}: the file is empty, not a map of keys`);
  });

  it('refuses a key that names a map or a list, a block scalar, and a value over several lines', () => {
    expect(fault(() => setValue(VALUES, FILE, 'image', '1.4.2')).message).toBe(`image in ${FILE} is a map, not a single value`);
    expect(fault(() => setValue(VALUES, FILE, 'sidecars', '1.4.2')).message).toBe(`sidecars in ${FILE} is a list, not a single value`);
    expect(fault(() => setValue('tag: |\n  1.4.1\n', FILE, 'tag', '1.4.2')).message)
      .toBe(`tag in ${FILE} is a block scalar (| or >); write it as a single-line value first`);
    expect(fault(() => setValue(VALUES, FILE, 'image.tag', '1.4.2\nreplicas: 0')).message)
      .toBe(`the value for image.tag in ${FILE} has a line break or control character: "1.4.2\\nreplicas: 0"`);
    expect(fault(() => setValue(VALUES, FILE, 'image..tag', '1')).message).toBe('"image..tag" is not a dotted key such as image.tag');
  });

  it('refuses a file that is not YAML, with the line', () => {
    expect(fault(() => setValue('image:\n  tag: 1\n  tag: 2\n', FILE, 'image.tag', '3')).message)
      .toBe(`${FILE} is not valid YAML: Map keys must be unique at line 3, column 3`);
  });
});

describe('readValue', () => {
  it('reads the value as written', () => {
    expect(readValue(VALUES, FILE, 'image.tag')).toBe('1.4.1');
    expect(readValue(VALUES, FILE, 'replicas')).toBe('3');
    expect(readValue(VALUES, FILE, 'resources.limits.cpu')).toBe('500m');
    expect(readValue('tag:\n', FILE, 'tag')).toBe(null);
  });
});
