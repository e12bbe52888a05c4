// The built-in unit kinds, in the order the help and the UI list them. A new kind is one file beside these
// and one line here.
import { registerUnitKind } from '../registry';
import { logit } from './logit';
import { channel } from './channel';
import { neuron } from './neuron';
import { vit } from './vit';
import { cosine, direction } from './direction';

registerUnitKind(logit);
registerUnitKind(channel);
registerUnitKind(neuron);
registerUnitKind(vit);
registerUnitKind(direction);
registerUnitKind(cosine);
