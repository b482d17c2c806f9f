import { createValidationPipe } from '../../common/validation';
import { EventsQueryDto } from './admin-event.dto';
import { PoolsQueryDto } from './admin-pool.dto';
import { ResourcesQueryDto } from './admin-resource.dto';

const pipe = createValidationPipe();

async function messages(metatype: new () => object, query: Record<string, unknown>): Promise<string[] | 'ok'> {
  try {
    await pipe.transform(query, { type: 'query', metatype });
    return 'ok';
  } catch (err) {
    return (err as { getResponse(): { message: string[] } }).getResponse().message;
  }
}

describe("the owner's text filters", () => {
  it.each([ResourcesQueryDto, PoolsQueryDto])('%p: blank, unprintable, too long or not a string is a 400 naming the field', async (dto) => {
    expect(await messages(dto, { prefix: 'uat-', contains: 'x', repository: 'flxbl-io/sf-core' })).toBe('ok');
    expect(await messages(dto, { prefix: '' })).toEqual(['prefix must not contain control characters', 'prefix should not be empty']);
    expect(await messages(dto, { contains: 'a\u0001' })).toEqual(['contains must not contain control characters']);
    expect(await messages(dto, { prefix: 'x'.repeat(2000) })).toEqual(['prefix must be shorter than or equal to 300 characters']);
    expect(await messages(dto, { repository: ['a', 'b'] })).toEqual(['repository must be a string']);
  });

  it('an actor is at most 200 characters', async () => {
    expect(await messages(EventsQueryDto, { actor: 'y'.repeat(200) })).toBe('ok');
    expect(await messages(EventsQueryDto, { actor: 'y'.repeat(201) })).toEqual(['actor must be shorter than or equal to 200 characters']);
    expect(await messages(EventsQueryDto, { pool: '\u0000' })).toEqual(['pool must not contain control characters']);
  });
});
