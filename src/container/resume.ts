export { resumeContainer } from "./pause.js";
